#!/usr/bin/python3
"""iam-policies.py — the instance roles' policies of deploy/spool.yaml, resolved.

    scripts/iam-policies.py --out DIR [--template FILE] [--region R] [--account-id N]
                            [--stack-name S] [--value NAME=VALUE]...
                            [--role-value ROLE:NAME=VALUE]...

For every AWS::IAM::Role that an AWS::IAM::InstanceProfile names, the statements of
its inline Policies are written, as one policy document, to DIR/<role>.json (the
role's logical id), with the intrinsic functions resolved as CloudFormation would in
the deployment described by the options: Ref (parameters take --value or their
Default; the bucket its name, a secret its ARN, both from --value), Fn::GetAtt X.Arn
(bucket, log group; any X.Attr given by --value, e.g. MqBroker.Id), Fn::Sub (both
forms), Fn::Join, Fn::Select and the pseudo
parameters. Anything else (an unknown function, a name without a value) is an error:
a policy is never written half resolved. --role-value gives a name a value in one
role's policy only. The local stack (scripts/stack.sh) runs it
with its own bucket, region, account and secret ARNs; the AWS stand-in evaluates the
requests signed by each role's key against these files.
Exit status: 0 when every role was written, 1 otherwise.
"""
import argparse
import importlib.util
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("sgc", os.path.join(HERE, "security-groups-check.py"))
_sgc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_sgc)


class Unresolved(Exception):
    pass


class Resolver:
    def __init__(self, template, values, region, account, stack):
        self.t = template
        self.res = template.get("Resources", {})
        self.params = template.get("Parameters", {})
        self.values = values
        self.pseudo = {
            "AWS::Region": region, "AWS::AccountId": account, "AWS::StackName": stack,
            "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": "arn:aws:cloudformation:%s:%s:stack/%s/00000000-0000-0000-0000-000000000000"
                            % (region, account, stack),
        }

    def ref(self, name):
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.values:
            return self.values[name]
        if name in self.params and "Default" in self.params[name]:
            return str(self.params[name]["Default"])
        raise Unresolved("no value for Ref %s (give --value %s=...)" % (name, name))

    def getatt(self, name, attr):
        r = self.res.get(name)
        if r is None or attr != "Arn":
            raise Unresolved("cannot resolve GetAtt %s.%s" % (name, attr))
        typ = r.get("Type")
        if typ == "AWS::S3::Bucket":
            return "arn:aws:s3:::%s" % self.ref(name)
        if typ == "AWS::Logs::LogGroup":
            group = self.resolve(r["Properties"]["LogGroupName"])
            return "arn:aws:logs:%s:%s:log-group:%s:*" % (self.pseudo["AWS::Region"], self.pseudo["AWS::AccountId"], group)
        if typ == "AWS::SecretsManager::Secret":
            return self.ref(name)
        raise Unresolved("cannot resolve GetAtt %s.Arn of a %s" % (name, typ))

    def sub(self, text, local):
        def one(m):
            var = m.group(1)
            if var.startswith("!"):
                return "${" + var[1:] + "}"
            if var in local:
                return str(local[var])
            if var in self.values:
                return self.values[var]
            if "." in var:
                n, a = var.split(".", 1)
                return self.getatt(n, a)
            return self.ref(var)
        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, v):
        if isinstance(v, list):
            return [self.resolve(x) for x in v]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, a), = v.items()
            if k == "Ref":
                return self.ref(a)
            if k == "Fn::GetAtt":
                return self.getatt(*(a if isinstance(a, list) else a.split(".", 1)))
            if k == "Fn::Sub":
                if isinstance(a, list):
                    local = {n: self.resolve(x) for n, x in a[1].items()}
                    return self.sub(a[0], local)
                return self.sub(a, {})
            if k == "Fn::Join":
                return str(a[0]).join(str(self.resolve(x)) for x in self.resolve(a[1]))
            if k == "Fn::Select":
                return self.resolve(a[1])[int(self.resolve(a[0]))]
            if k.startswith("Fn::") or k == "Condition":
                raise Unresolved("unsupported intrinsic function %s" % k)
        return {k: self.resolve(x) for k, x in v.items()}


def instance_roles(template):
    res = template.get("Resources", {})
    out = []
    for r in res.values():
        if r.get("Type") != "AWS::IAM::InstanceProfile":
            continue
        for role in r["Properties"].get("Roles", []):
            name = role.get("Ref") if isinstance(role, dict) else None
            if not name or res.get(name, {}).get("Type") != "AWS::IAM::Role":
                raise Unresolved("instance profile role %r is not a Ref to a role of the template" % (role,))
            if name not in out:
                out.append(name)
    return out


def parse_values(ap, items):
    """The --value NAME=VALUE options as a dict (ap.error on a malformed one)."""
    values = {}
    for kv in items:
        if "=" not in kv:
            ap.error("--value wants NAME=VALUE, got %r" % kv)
        k, v = kv.split("=", 1)
        values[k] = v
    return values


def main(argv):
    ap = argparse.ArgumentParser(description="resolve the instance roles' policies of the template")
    ap.add_argument("--template", default=os.path.join(HERE, "..", "deploy", "spool.yaml"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--account-id", default="000000000000")
    ap.add_argument("--stack-name", default="spool-local")
    ap.add_argument("--value", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--role-value", action="append", default=[], metavar="ROLE:NAME=VALUE")
    a = ap.parse_args(argv)
    values = parse_values(ap, a.value)
    role_values = {}
    for kv in a.role_value:
        if ":" not in kv or "=" not in kv.split(":", 1)[1]:
            ap.error("--role-value wants ROLE:NAME=VALUE, got %r" % kv)
        role, kv = kv.split(":", 1)
        k, v = kv.split("=", 1)
        role_values.setdefault(role, {})[k] = v
    t = _sgc.load(a.template)
    try:
        docs = {}
        roles = instance_roles(t)
        for role in role_values:
            if role not in roles:
                raise Unresolved("--role-value names %s, not an instance role of the template" % role)
        for role in roles:
            r = Resolver(t, dict(values, **role_values.get(role, {})), a.region, a.account_id, a.stack_name)
            stmts = []
            for p in t["Resources"][role]["Properties"].get("Policies", []):
                doc = p["PolicyDocument"]
                stmts += doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
            docs[role] = {"Version": "2012-10-17", "Statement": r.resolve(stmts)}
    except Unresolved as e:
        print("iam-policies: %s" % e, file=sys.stderr)
        return 1
    os.makedirs(a.out, exist_ok=True)
    for role, doc in docs.items():
        path = os.path.join(a.out, role + ".json")
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(path + ".tmp", path)
    print(" ".join(sorted(docs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
