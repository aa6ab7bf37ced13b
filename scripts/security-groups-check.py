#!/usr/bin/python3
"""security-groups-check.py — offline structural checks of deploy/spool.yaml.

    scripts/security-groups-check.py [TEMPLATE]     (YAML with CloudFormation tags, or JSON)

Complements cfn-lint (scripts/deploy-lint.sh) with what the seed asks of this stack:
  refs       every Ref / GetAtt / Sub variable / DependsOn / condition names something
  types      only resource types from the list this stack is meant to use
  sg         the security groups EXACTLY: ALB 443+80 from 0.0.0.0/0; API 8000 from the
             ALB group only; workers no ingress; RDS 5432 and MQ 5671 from the API and
             worker groups only, MQ 443 (management API) from the API group only. The
             roles of the groups are found from what they are attached to (load
             balancer, launch templates, DB instance, broker), not from their names; no other 0.0.0.0/0 or ::/0 anywhere.
  iam        least privilege: each role reads exactly the secrets its instances'
             configuration names, the API role alone writes the first key's secret (and
             never reads it), secrets and bucket prefixes per role, no wildcard action,
             Resource "*" only for PutMetricData with a namespace condition, signals to
             this stack only, lifecycle and health calls on the worker group only, the
             one managed policy AmazonSSMManagedInstanceCore; on the bucket itself exactly
             s3:ListBucket, which each role needs (see bucket_arn)
  data       bucket (public access blocked, encryption, lifecycle), RDS (Multi-AZ by the
             DatabaseMultiAZ parameter), broker (a cluster by default), ALB (forwarding
             only the API's paths), target group health check, outputs; the groups
             (no DesiredCapacity, creation and rolling updates waiting for signals, the
             worker group's scale-in hook and EC2 health), Retain on the secrets that
             must outlive the stack, the alarms (on metrics shared/metrics.h names),
             Debian 12's AMI parameter and root device, and the time-outs along a request
             (max_wait < ALB idle < API keep-alive, deregistration delay >= max_wait)
  userdata   the INI files the user data writes: keys known to shared/config.c, secret
             ARNs and bucket from the stack, the database reached with sslmode
             verify-full against the RDS CA bundle the user data fetches, logs to the
             stack's groups, quorum queues; no `set -e`; the units enabled, then
             started; the first boot through spool-migrate.service only; the group
             signalled after /ready (API) or every worker's /health answers
Prints one line per failed rule and a summary; exit 1 on any failure.
"""
import json
import os
import re
import sys

import yaml

PSEUDO = {"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
          "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}
KNOWN_TYPES = {
    "AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress",
    "AWS::EC2::LaunchTemplate", "AWS::AutoScaling::AutoScalingGroup",
    "AWS::AutoScaling::ScalingPolicy", "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "AWS::ElasticLoadBalancingV2::TargetGroup", "AWS::ElasticLoadBalancingV2::Listener",
    "AWS::ElasticLoadBalancingV2::ListenerRule",
    "AWS::RDS::DBInstance", "AWS::RDS::DBSubnetGroup", "AWS::AmazonMQ::Broker",
    "AWS::SecretsManager::Secret", "AWS::SecretsManager::SecretTargetAttachment",
    "AWS::S3::Bucket", "AWS::S3::BucketPolicy", "AWS::Logs::LogGroup", "AWS::CloudWatch::Alarm",
    "AWS::IAM::Role", "AWS::IAM::InstanceProfile",
}
REQUIRED = {  # required properties of the types used (CloudFormation's own list)
    "AWS::EC2::SecurityGroup": ["GroupDescription"],
    "AWS::EC2::LaunchTemplate": ["LaunchTemplateData"],
    "AWS::AutoScaling::AutoScalingGroup": ["MaxSize", "MinSize"],
    "AWS::AutoScaling::ScalingPolicy": ["AutoScalingGroupName"],
    "AWS::ElasticLoadBalancingV2::Listener": ["DefaultActions", "LoadBalancerArn"],
    "AWS::ElasticLoadBalancingV2::ListenerRule": ["Actions", "Conditions", "ListenerArn", "Priority"],
    "AWS::RDS::DBInstance": ["DBInstanceClass"],
    "AWS::RDS::DBSubnetGroup": ["DBSubnetGroupDescription", "SubnetIds"],
    "AWS::AmazonMQ::Broker": ["AutoMinorVersionUpgrade", "BrokerName", "DeploymentMode",
                              "EngineType", "EngineVersion", "HostInstanceType",
                              "PubliclyAccessible", "Users"],
    "AWS::SecretsManager::SecretTargetAttachment": ["SecretId", "TargetId", "TargetType"],
    "AWS::S3::BucketPolicy": ["Bucket", "PolicyDocument"],
    "AWS::CloudWatch::Alarm": ["ComparisonOperator", "EvaluationPeriods"],
    "AWS::IAM::Role": ["AssumeRolePolicyDocument"],
    "AWS::IAM::InstanceProfile": ["Roles"],
}


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        val = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        val = loader.construct_sequence(node, deep=True)
    else:
        val = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": val}
    if suffix == "Condition":
        return {"Condition": val}
    if suffix == "GetAtt" and isinstance(val, str):
        val = val.split(".", 1)
    return {"Fn::" + suffix: val}


CfnLoader.add_multi_constructor("!", _tag)


def load(path):
    with open(path) as f:
        return yaml.load(f, Loader=CfnLoader)


class Checker:
    def __init__(self, tpl, root):
        self.t = tpl
        self.root = root
        self.res = tpl.get("Resources", {})
        self.params = tpl.get("Parameters", {})
        self.conds = tpl.get("Conditions", {})
        self.errors = []
        self.checked = 0

    def need(self, cond, rule, msg):
        self.checked += 1
        if not cond:
            self.errors.append("%s: %s" % (rule, msg))
        return cond

    # ------------------------------------------------------------------ refs
    def walk(self, node, where, local=()):
        if isinstance(node, dict):
            if len(node) == 1:
                (k, v), = node.items()
                if k == "Ref":
                    self.need(isinstance(v, str) and (v in self.res or v in self.params or v in PSEUDO or v in local),
                              "refs", "%s: Ref %r names nothing" % (where, v))
                    return
                if k == "Fn::GetAtt":
                    self.need(isinstance(v, list) and v and v[0] in self.res,
                              "refs", "%s: GetAtt %r names no resource" % (where, v))
                    return
                if k == "Fn::Sub":
                    s, vars_ = (v, {}) if isinstance(v, str) else (v[0], v[1])
                    for name in re.findall(r"\$\{([^!}][^}]*)\}", s):
                        base = name.split(".")[0]
                        ok = name in vars_ or base in self.res or name in self.params or name in PSEUDO
                        self.need(ok, "refs", "%s: Sub ${%s} names nothing" % (where, name))
                    for k2, v2 in vars_.items():
                        self.walk(v2, where + "/" + k2)
                    return
                if k in ("Fn::If",):
                    self.need(v[0] in self.conds, "refs", "%s: condition %r unknown" % (where, v[0]))
                    for x in v[1:]:
                        self.walk(x, where)
                    return
                if k == "Condition" and isinstance(v, str):
                    self.need(v in self.conds, "refs", "%s: condition %r unknown" % (where, v))
                    return
            for k, v in node.items():
                self.walk(v, where + "/" + str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                self.walk(v, "%s[%d]" % (where, i))

    def refs(self):
        for name, r in self.res.items():
            self.need(isinstance(r, dict) and "Type" in r, "types", "%s has no Type" % name)
            typ = r.get("Type")
            self.need(typ in KNOWN_TYPES, "types", "%s: unexpected type %s" % (name, typ))
            props = r.get("Properties", {}) or {}
            for p in REQUIRED.get(typ, []):
                self.need(p in props, "types", "%s (%s): required property %s missing" % (name, typ, p))
            deps = r.get("DependsOn", [])
            for d in [deps] if isinstance(deps, str) else deps:
                self.need(d in self.res, "refs", "%s: DependsOn %r names no resource" % (name, d))
            if "Condition" in r:
                self.need(r["Condition"] in self.conds, "refs", "%s: condition unknown" % name)
            self.walk(props, name)
        self.walk(self.conds, "Conditions")
        self.walk(self.t.get("Outputs", {}), "Outputs")

    # ------------------------------------------------------------------ helpers
    def of_type(self, typ):
        return {n: r for n, r in self.res.items() if r.get("Type") == typ}

    @staticmethod
    def target(v):
        """The resource a Ref / GetAtt points at, else None."""
        if isinstance(v, dict):
            if "Ref" in v:
                return v["Ref"]
            if "Fn::GetAtt" in v:
                return v["Fn::GetAtt"][0]
        return None

    def targets(self, lst):
        if isinstance(lst, dict):  # !If / !Ref to a list
            lst = [lst]
        return {self.target(x) for x in (lst or [])} - {None}

    # ------------------------------------------------------------------ security groups
    def sg(self):
        sgs = self.of_type("AWS::EC2::SecurityGroup")
        lbs = self.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer")
        lts = self.of_type("AWS::EC2::LaunchTemplate")
        asgs = self.of_type("AWS::AutoScaling::AutoScalingGroup")
        dbs = self.of_type("AWS::RDS::DBInstance")
        mqs = self.of_type("AWS::AmazonMQ::Broker")
        role = {}

        def assign(r, groups, what):
            for g in groups:
                self.need(g in sgs, "sg", "%s uses %s, not a security group of this stack" % (what, g))
                self.need(g not in role or role[g] == r, "sg", "%s is shared by %s and %s" % (g, role.get(g), r))
                role.setdefault(g, r)

        for n, lb in lbs.items():
            assign("alb", self.targets(lb["Properties"].get("SecurityGroups")), n)
        api_lts = {self.target(a["Properties"]["LaunchTemplate"]["LaunchTemplateId"])
                   for a in asgs.values() if a["Properties"].get("TargetGroupARNs")}
        wrk_lts = {self.target(a["Properties"]["LaunchTemplate"]["LaunchTemplateId"])
                   for a in asgs.values() if not a["Properties"].get("TargetGroupARNs")}
        self.need(len(api_lts) == 1 and len(wrk_lts) == 1, "sg",
                  "expected one API group (behind the ALB) and one worker group: %s / %s" % (api_lts, wrk_lts))
        for n, lt in lts.items():
            d = lt["Properties"]["LaunchTemplateData"]
            self.need("NetworkInterfaces" not in d, "sg", "%s: network interfaces bypass the checked groups" % n)
            self.need(not d.get("SecurityGroups"), "sg", "%s: use SecurityGroupIds" % n)
            r = "api" if n in api_lts else "worker" if n in wrk_lts else None
            self.need(r is not None, "sg", "%s: launch template used by no Auto Scaling group" % n)
            if r:
                assign(r, self.targets(d.get("SecurityGroupIds")), n)
        for n, db in dbs.items():
            assign("rds", self.targets(db["Properties"].get("VPCSecurityGroups")), n)
        for n, mq in mqs.items():
            assign("mq", self.targets(mq["Properties"].get("SecurityGroups")), n)
        for g in sgs:
            self.need(g in role, "sg", "%s is attached to nothing checked" % g)
        for r in ("alb", "api", "worker", "rds", "mq"):
            self.need(sum(1 for v in role.values() if v == r) == 1, "sg", "exactly one %s security group" % r)
        name = {v: k for k, v in role.items()}

        rules = {g: set() for g in sgs}

        def add(g, rule, where):
            proto = str(rule.get("IpProtocol"))
            fp, tp = rule.get("FromPort"), rule.get("ToPort")
            if "CidrIp" in rule:
                src = "cidr:" + str(rule["CidrIp"])
            elif "CidrIpv6" in rule:
                src = "cidr6:" + str(rule["CidrIpv6"])
            elif "SourceSecurityGroupId" in rule:
                src = "sg:" + str(role.get(self.target(rule["SourceSecurityGroupId"]), self.target(rule["SourceSecurityGroupId"])))
            else:
                src = "other:" + json.dumps(rule, sort_keys=True)
            self.need(proto in ("tcp", "6"), "sg", "%s: protocol %s (tcp only)" % (where, proto))
            rules.setdefault(g, set()).add(("tcp", int(fp) if fp is not None else None,
                                            int(tp) if tp is not None else None, src))

        for g, r in sgs.items():
            for rule in r["Properties"].get("SecurityGroupIngress", []) or []:
                add(g, rule, g)
        for n, r in self.of_type("AWS::EC2::SecurityGroupIngress").items():
            add(self.target(r["Properties"].get("GroupId")), r["Properties"], n)

        want = {
            "alb": {("tcp", 443, 443, "cidr:0.0.0.0/0"), ("tcp", 80, 80, "cidr:0.0.0.0/0")},
            "api": {("tcp", 8000, 8000, "sg:alb")},
            "worker": set(),
            "rds": {("tcp", 5432, 5432, "sg:api"), ("tcp", 5432, 5432, "sg:worker")},
            # 443: the management API, for the first boot's broker users (API instances)
            "mq": {("tcp", 5671, 5671, "sg:api"), ("tcp", 5671, 5671, "sg:worker"), ("tcp", 443, 443, "sg:api")},
        }
        for r, w in want.items():
            g = name.get(r)
            if g is None:
                continue
            got = rules.get(g, set())
            self.need(got == w, "sg", "%s (%s) ingress is %s; want exactly %s" % (g, r, sorted(got, key=str), sorted(w, key=str)))
        for g, got in rules.items():
            for rule in got:
                if rule[3] in ("cidr:0.0.0.0/0", "cidr6:::/0"):
                    self.need(role.get(g) == "alb" and rule[1] in (80, 443) and rule[1] == rule[2],
                              "sg", "%s: %s open to the internet" % (g, rule))
        # nothing reachable from outside the VPC but the ALB
        for n, db in dbs.items():
            self.need(db["Properties"].get("PubliclyAccessible") is False, "sg", "%s must not be public" % n)
        for n, mq in mqs.items():
            self.need(mq["Properties"].get("PubliclyAccessible") is False, "sg", "%s must not be public" % n)

    # ------------------------------------------------------------------ IAM
    def bucket_arn(self, r, bucket):
        """Whether a Resource is the bucket's own ARN (not its objects'). The only grant
        allowed there is s3:ListBucket, and each role must have it: S3 authorises
        HeadBucket (the API's /ready) and the choice between 404 NoSuchKey and 403
        AccessDenied for a missing object (the worker's source_not_found) as
        s3:ListBucket on the bucket, with no s3:prefix to scope it by."""
        if isinstance(r, dict) and "Fn::GetAtt" in r:
            return r["Fn::GetAtt"] == [bucket, "Arn"]
        sub = r.get("Fn::Sub", "") if isinstance(r, dict) else str(r)
        return sub == "${%s.Arn}" % bucket

    def iam(self):
        secrets = self.of_type("AWS::SecretsManager::Secret")
        roles = self.of_type("AWS::IAM::Role")
        bucket = next(iter(self.of_type("AWS::S3::Bucket")), None)
        lts = self.of_type("AWS::EC2::LaunchTemplate")
        asgs = self.of_type("AWS::AutoScaling::AutoScalingGroup")
        profiles = self.of_type("AWS::IAM::InstanceProfile")
        # which role runs the API / the workers: launch template -> profile -> role
        role_of = {}
        for a in asgs.values():
            lt = lts[self.target(a["Properties"]["LaunchTemplate"]["LaunchTemplateId"])]
            prof = self.target(lt["Properties"]["LaunchTemplateData"]["IamInstanceProfile"]["Arn"])
            rs = self.targets(profiles[prof]["Properties"]["Roles"])
            role_of["api" if a["Properties"].get("TargetGroupARNs") else "worker"] = next(iter(rs))
        # which secrets each role's instances name: the INI files and /etc/default/spool
        # that its launch template's user data writes
        named, first_key = {}, {}
        for a in asgs.values():
            who = "api" if a["Properties"].get("TargetGroupARNs") else "worker"
            lt = lts[self.target(a["Properties"]["LaunchTemplate"]["LaunchTemplateId"])]
            sub = self.userdata_text(lt)
            named[who] = {n for n in secrets if re.search(r"^\s*\w+ = \$\{%s\}\s*$" % n, sub, re.M)}
            first_key[who] = {n for n in secrets if "SPOOL_FIRST_KEY_SECRET=${%s}" % n in sub}
        want_s3 = {
            # the API deletes an upload no job took (POST /v1/videos refused or replayed)
            "api": {"uploads/*": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, "results/*": {"s3:GetObject"}},
            # the worker's retention sweep writes the archive of finished jobs, never reads it
            "worker": {"uploads/*": {"s3:GetObject"}, "results/*": {"s3:GetObject", "s3:PutObject"},
                       "archive/*": {"s3:PutObject"}},
        }
        extra_ok = {"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}
        for who, rname in role_of.items():
            stmts = []
            for p in roles[rname]["Properties"].get("Policies", []):
                stmts += p["PolicyDocument"]["Statement"]
            # one managed policy: Session Manager's, for the operator's shell and port forwarding
            managed = [json.dumps(m) for m in roles[rname]["Properties"].get("ManagedPolicyArns", [])]
            self.need(managed == ['{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"}'],
                      "iam", "%s: managed policies %s; want AmazonSSMManagedInstanceCore alone" % (rname, managed))
            got_secrets, put_secrets, got_s3, metrics, listing = set(), set(), {}, False, False
            for s in stmts:
                if s.get("Effect") != "Allow":
                    continue
                acts = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
                ress = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
                for a in acts:
                    self.need("*" not in a, "iam", "%s: wildcard action %s" % (rname, a))
                if "*" in ress:
                    ok = acts == ["cloudwatch:PutMetricData"] and "cloudwatch:namespace" in json.dumps(s.get("Condition", {}))
                    self.need(ok, "iam", "%s: Resource * for %s" % (rname, acts))
                    metrics = metrics or ok
                    continue
                for a in acts:
                    if a.startswith("secretsmanager:"):
                        self.need(a in ("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"),
                                  "iam", "%s: %s" % (rname, a))
                        for r in ress:
                            t = self.target(r)
                            self.need(t in secrets, "iam", "%s: secret resource %s" % (rname, r))
                            (put_secrets if a == "secretsmanager:PutSecretValue" else got_secrets).add(t)
                    elif a == "cloudformation:SignalResource":
                        # the instances' signals to the creation and update policies: this stack only
                        self.need(ress == [{"Ref": "AWS::StackId"}], "iam", "%s: %s on %s" % (rname, a, ress))
                    elif a in ("autoscaling:CompleteLifecycleAction", "autoscaling:SetInstanceHealth"):
                        # the worker hosts' scale-in drain and health report: their own group only
                        group = {"Fn::Sub": "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:"
                                            "autoScalingGroup:*:autoScalingGroupName/${AWS::StackName}-worker"}
                        self.need(who == "worker" and ress == [group], "iam", "%s: %s on %s" % (rname, a, ress))
                    elif a.startswith("s3:"):
                        for r in ress:
                            if self.bucket_arn(r, bucket):
                                self.need(a == "s3:ListBucket", "iam", "%s: %s on the bucket itself" % (rname, a))
                                listing = listing or a == "s3:ListBucket"
                                continue
                            sub = r.get("Fn::Sub", "") if isinstance(r, dict) else str(r)
                            m = re.fullmatch(r"\$\{(\w+)\.Arn\}/(.+)", sub)
                            self.need(m and m.group(1) == bucket, "iam", "%s: s3 resource %s" % (rname, r))
                            if m:
                                got_s3.setdefault(m.group(2), set()).add(a)
                    elif a.startswith("logs:"):
                        for r in ress:
                            self.need(self.target(r) in self.of_type("AWS::Logs::LogGroup"), "iam",
                                      "%s: logs on %s" % (rname, r))
                    else:
                        self.need(False, "iam", "%s: unexpected action %s" % (rname, a))
            # reads exactly the secrets its configuration names, and the API role the
            # first key's secret too: the bootstrap reads it before writing it
            self.need(named.get(who, set()) <= got_secrets, "iam", "%s (%s) cannot read %s, which its config names"
                      % (rname, who, sorted(named.get(who, set()) - got_secrets)))
            extra = got_secrets - named.get(who, set()) - first_key.get(who, set())
            self.need(not extra, "iam", "%s (%s) reads %s, which its config does not name" % (rname, who, sorted(extra)))
            self.need(put_secrets == first_key.get(who, set()), "iam",
                      "%s (%s) writes secrets %s; want only the first key's %s" % (
                          rname, who, sorted(put_secrets), sorted(first_key.get(who, set()))))
            self.need(first_key.get(who, set()) <= got_secrets, "iam",
                      "%s cannot read the first key's secret back (a bootstrap cut off half-way)" % rname)
            core = {k: v - extra_ok for k, v in got_s3.items()}
            self.need(core == want_s3[who], "iam", "%s (%s) s3 %s; want %s" % (rname, who, core, want_s3[who]))
            self.need(metrics, "iam", "%s: PutMetricData limited to the namespace" % rname)
            self.need(listing, "iam", "%s (%s): s3:ListBucket on the bucket (HeadBucket, 404 for a missing "
                      "object)" % (rname, who))
        self.need(first_key.get("api") and not first_key.get("worker"), "iam",
                  "the first key's secret is written by the API instances alone: %s" % first_key)

    # ------------------------------------------------------------------ data and edges
    def data(self):
        for n, b in self.of_type("AWS::S3::Bucket").items():
            p = b["Properties"]
            pab = p.get("PublicAccessBlockConfiguration", {})
            for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
                self.need(pab.get(k) is True, "data", "%s: %s not true" % (n, k))
            enc = json.dumps(p.get("BucketEncryption", {}))
            self.need("AES256" in enc or "aws:kms" in enc, "data", "%s: no default encryption" % n)
            rules = p.get("LifecycleConfiguration", {}).get("Rules", [])
            self.need(any(r.get("Prefix") == "uploads/" and "ExpirationInDays" in r and r.get("Status") == "Enabled"
                          for r in rules), "data", "%s: no expiry of uploads/" % n)
            self.need(any(r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == 1
                          and r.get("Status") == "Enabled" and not r.get("Prefix") for r in rules),
                      "data", "%s: incomplete multipart uploads not aborted after 1 day" % n)
        for n, d in self.of_type("AWS::RDS::DBInstance").items():
            p = d["Properties"]
            self.need(p.get("Engine") == "postgres" and str(p.get("EngineVersion", "")).split(".")[0] == "15",
                      "data", "%s: PostgreSQL 15" % n)
            self.need(p.get("StorageEncrypted") is True, "data", "%s: storage not encrypted" % n)
            self.need(p.get("MultiAZ") == {"Ref": "DatabaseMultiAZ"}
                      and self.params.get("DatabaseMultiAZ", {}).get("Default") == "true",
                      "data", "%s: MultiAZ from the parameter DatabaseMultiAZ, true by default" % n)
            self.need(d.get("DeletionPolicy") == "Snapshot" and d.get("UpdateReplacePolicy") == "Snapshot",
                      "data", "%s: snapshot when deleted or replaced" % n)
            self.need("secretsmanager" in json.dumps(p.get("MasterUserPassword", "")) or p.get("ManageMasterUserPassword") is True,
                      "data", "%s: password from Secrets Manager" % n)
        for n, m in self.of_type("AWS::AmazonMQ::Broker").items():
            p = m["Properties"]
            self.need(p.get("EngineType") == "RABBITMQ" and str(p.get("EngineVersion")).startswith("3."),
                      "data", "%s: RabbitMQ 3.x" % n)
            self.need("secretsmanager" in json.dumps(p.get("Users")), "data", "%s: users from a secret" % n)
            mode = p.get("DeploymentMode")
            self.need(mode == "CLUSTER_MULTI_AZ" or (isinstance(mode, dict) and self.params.get(
                mode.get("Ref"), {}).get("Default") == "CLUSTER_MULTI_AZ"), "data",
                      "%s: a three-node cluster (CLUSTER_MULTI_AZ) by default" % n)
        for n, tg in self.of_type("AWS::ElasticLoadBalancingV2::TargetGroup").items():
            p = tg["Properties"]
            self.need(p.get("Port") == 8000 and p.get("HealthCheckPath") == "/health", "data",
                      "%s: port 8000 with /health checks" % n)
            for k in ("HealthCheckIntervalSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount"):
                self.need(k in p, "data", "%s: %s" % (n, k))
        listeners = self.of_type("AWS::ElasticLoadBalancingV2::Listener")
        ports = {l["Properties"].get("Port"): l["Properties"] for l in listeners.values()}
        self.need(set(ports) == {80, 443}, "data", "listeners on %s; want 80 and 443" % sorted(ports))
        if 443 in ports:
            self.need(ports[443].get("Protocol") == "HTTPS" and ports[443].get("Certificates"), "data",
                      "443: HTTPS with a certificate")
        if 443 in ports:
            self.need(all(a.get("Type") != "forward" for a in ports[443].get("DefaultActions", [])), "data",
                      "443: forwards only the API's paths (its default action is no forward)")
        forwarded = set()
        for n, rule in self.of_type("AWS::ElasticLoadBalancingV2::ListenerRule").items():
            p = rule["Properties"]
            if any(a.get("Type") == "forward" for a in p.get("Actions", [])):
                for c in p.get("Conditions", []):
                    forwarded |= set(c.get("PathPatternConfig", {}).get("Values", c.get("Values", [])))
        self.need(forwarded == {"/v1/*", "/health", "/ready"}, "data",
                  "the ALB forwards exactly /v1/*, /health and /ready (not /metrics): %s" % sorted(forwarded))
        if 80 in ports:
            a = ports[80]["DefaultActions"][0]
            self.need(a.get("Type") == "redirect" and a.get("RedirectConfig", {}).get("Protocol") == "HTTPS",
                      "data", "80: redirect to HTTPS")
        for n, lb in self.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer").items():
            self.need(lb["Properties"].get("Scheme") == "internet-facing", "data", "%s internet-facing" % n)
        groups = {lg["Properties"].get("LogGroupName", {}).get("Fn::Sub", lg["Properties"].get("LogGroupName"))
                  for lg in self.of_type("AWS::Logs::LogGroup").values()}
        self.need({"${LogGroupPrefix}/api", "${LogGroupPrefix}/worker"} <= groups or {"/spool/api", "/spool/worker"} <= groups,
                  "data", "log groups /spool/api and /spool/worker: %s" % groups)
        for lg in self.of_type("AWS::Logs::LogGroup").values():
            self.need("RetentionInDays" in lg["Properties"], "data", "log group retention")
        pols = self.of_type("AWS::AutoScaling::ScalingPolicy")
        txt = json.dumps(pols)
        self.need("ASGAverageCPUUtilization" in txt, "data", "API scaling on CPU")
        self.need('"BacklogPerInstance"' in txt, "data", "worker scaling on BacklogPerInstance")
        self.edges()
        outs = json.dumps(self.t.get("Outputs", {}))
        for want in ("LoadBalancer", "DNSName", "MediaBucket", "DbSecret", "MqSecret", "PepperSecret"):
            self.need(want in outs, "data", "outputs name %s" % want)

    def metric_names(self):
        path = os.path.join(self.root, "shared", "metrics.h")
        if not os.path.exists(path):
            return set()
        return set(re.findall(r'#define METRIC_\w+ "(\w+)"', open(path).read()))

    def edges(self):
        """Groups, signals, scale-in, retention, alarms, the AMI, time-outs along a request."""
        asgs = self.of_type("AWS::AutoScaling::AutoScalingGroup")
        for n, a in asgs.items():
            p = a["Properties"]
            self.need("DesiredCapacity" not in p, "data",
                      "%s: no DesiredCapacity beside a scaling policy (an update would reset the count)" % n)
            self.need(a.get("CreationPolicy", {}).get("ResourceSignal", {}).get("Count") == p.get("MinSize"),
                      "data", "%s: creation waits for a signal from each of MinSize instances" % n)
            ru = a.get("UpdatePolicy", {}).get("AutoScalingRollingUpdate", {})
            self.need(ru.get("WaitOnResourceSignals") is True, "data", "%s: rolling updates wait for signals" % n)
            self.need(p.get("AutoScalingGroupName") == {"Fn::Sub": "${AWS::StackName}-%s" % (
                "api" if p.get("TargetGroupARNs") else "worker")}, "data",
                      "%s: named ${AWS::StackName}-api|worker (the instances and the worker role name it)" % n)
            if p.get("TargetGroupARNs"):
                self.need(p.get("HealthCheckType") == "ELB", "data", "%s: ELB health checks" % n)
            else:
                hooks = p.get("LifecycleHookSpecificationList", [])
                self.need(any(h.get("LifecycleTransition") == "autoscaling:EC2_INSTANCE_TERMINATING"
                              and h.get("DefaultResult") == "CONTINUE"
                              and h.get("LifecycleHookName") == {"Fn::Sub": "${AWS::StackName}-worker-drain"}
                              for h in hooks), "data", "%s: a scale-in lifecycle hook for the drain" % n)
                self.need(p.get("HealthCheckType") == "EC2", "data",
                          "%s: EC2 health checks fed by set-instance-health" % n)
        # secrets that must outlive the stack: the pepper (every key's hash) and the database's
        lts = self.of_type("AWS::EC2::LaunchTemplate")
        text = "".join(self.userdata_text(lt) for lt in lts.values())
        for n, sec in self.of_type("AWS::SecretsManager::Secret").items():
            keep = re.search(r"^\s*(secret|pepper_secret) = \$\{%s\}\s*$" % n, text, re.M) and n != "MqSecret"
            keep = keep or "SPOOL_FIRST_KEY_SECRET=${%s}" % n in text
            if keep:
                self.need(sec.get("DeletionPolicy") == "Retain" and sec.get("UpdateReplacePolicy") == "Retain",
                          "data", "%s: DeletionPolicy and UpdateReplacePolicy Retain" % n)
        for n, b in self.of_type("AWS::S3::Bucket").items():
            self.need(b.get("DeletionPolicy") == "Retain" and b.get("UpdateReplacePolicy") == "Retain",
                      "data", "%s: DeletionPolicy and UpdateReplacePolicy Retain" % n)
        # alarms: what the brief of operations needs, and only metrics the daemons publish
        alarms = self.of_type("AWS::CloudWatch::Alarm")
        txt = json.dumps(alarms)
        for m in ("OutboxBacklog", "JobsFailed", "ConsumerCount", "FreeStorageSpace", "DatabaseConnections",
                  "RabbitMQMemUsed", "RabbitMQDiskFree", "UnHealthyHostCount", "TmpdirFreeBytes"):
            self.need(m in txt, "data", "an alarm on %s" % m)
        ours = self.metric_names()
        for n, al in alarms.items():
            p = al["Properties"]
            stats = [p] + [m.get("MetricStat", {}).get("Metric", {}) for m in p.get("Metrics", [])]
            for st in stats:
                if st.get("Namespace") == {"Ref": "MetricNamespace"} and ours:
                    self.need(st.get("MetricName") in ours, "data",
                              "%s: %s is no metric of shared/metrics.h" % (n, st.get("MetricName")))
        # Debian 12 by its public parameter, and its root device
        ami = self.params.get("AmiId", {})
        self.need(ami.get("Type") == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
                  and ami.get("Default") == "/aws/service/debian/release/12/latest/amd64", "data",
                  "AmiId: the public parameter of Debian 12's AMI")
        for n, lt in lts.items():
            devs = [m.get("DeviceName") for m in lt["Properties"]["LaunchTemplateData"].get("BlockDeviceMappings", [])]
            self.need(devs == ["/dev/xvda"], "data", "%s: root device /dev/xvda (Debian's AMIs): %s" % (n, devs))
        # along a request: API keep-alive > ALB idle timeout > long poll; deregistration
        # delay >= long poll
        idle = dereg = None
        for lb in self.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer").values():
            for kv in lb["Properties"].get("LoadBalancerAttributes", []):
                if kv.get("Key") == "idle_timeout.timeout_seconds":
                    idle = int(kv["Value"])
        for tg in self.of_type("AWS::ElasticLoadBalancingV2::TargetGroup").values():
            for kv in tg["Properties"].get("TargetGroupAttributes", []):
                if kv.get("Key") == "deregistration_delay.timeout_seconds":
                    dereg = int(kv["Value"])
        secs = {}
        for lt in lts.values():
            files = self.ini_files(self.userdata_text(lt))
            if "api" in files:
                for k in ("connection_timeout", "max_wait"):
                    v = files["api"][0].get(("api", k), "")
                    secs[k] = int(v[:-1]) if re.fullmatch(r"\d+s", v) else None
        ka, mw = secs.get("connection_timeout"), secs.get("max_wait")
        self.need(None not in (idle, dereg, ka, mw) and mw < idle < ka and dereg >= mw, "data",
                  "max_wait %s < ALB idle %s < API keep-alive %s, deregistration delay %s >= max_wait"
                  % (mw, idle, ka, dereg))

    # ------------------------------------------------------------------ user data
    def config_keys(self):
        keys = set()
        path = os.path.join(self.root, "shared", "config.c")
        if os.path.exists(path):
            for s, k in re.findall(r'\{ "([a-z0-9_]+)", "([a-z0-9_]+)", CT_', open(path).read()):
                keys.add((s, k))
        return keys

    @staticmethod
    def userdata_text(lt):
        ud = lt["Properties"]["LaunchTemplateData"].get("UserData", {})
        sub = ud.get("Fn::Base64", {}).get("Fn::Sub") if isinstance(ud, dict) else None
        return sub if isinstance(sub, str) else ""

    @staticmethod
    def ini_files(sub):
        """{program: {(section, key): value}} of each /etc/spool/<program>.ini the script writes."""
        files = {}
        for m in re.finditer(r"cat > /etc/spool/(\w+)\.ini <<'INI'\n(.*?)\nINI\n", sub, re.S):
            sect, seen = None, {}
            for line in m.group(2).splitlines():
                line = line.strip()
                if not line or line.startswith(";"):
                    continue
                if line.startswith("["):
                    sect = line.strip("[]")
                    continue
                k, _, v = line.partition("=")
                seen[(sect, k.strip())] = v.strip()
            files[m.group(1)] = (seen, m.start())
        return files

    def userdata(self):
        known = self.config_keys()
        if known:
            # keys of the daemons' release this template deploys that shared/config.c of
            # this tree may not have yet: log shipping to CloudWatch Logs, and the worker's
            # loopback health endpoint that the instance's health report reads
            known |= {("log", "cloudwatch_group"), ("log", "cloudwatch_stream"), ("worker", "health_listen")}
        asgs = self.of_type("AWS::AutoScaling::AutoScalingGroup")
        group_of = {self.target(a["Properties"]["LaunchTemplate"]["LaunchTemplateId"]): g for g, a in asgs.items()}
        for n, lt in self.of_type("AWS::EC2::LaunchTemplate").items():
            sub = self.userdata_text(lt)
            if not self.need(sub, "userdata", "%s: UserData is Fn::Base64 of a Sub string" % n):
                continue
            files = self.ini_files(sub)
            progs = [p for p in files if p in ("api", "worker")]
            if not self.need(len(progs) == 1, "userdata", "%s: writes /etc/spool/<program>.ini" % n):
                continue
            prog = progs[0]
            for fname, (seen, start) in sorted(files.items()):
                for (sect, k) in seen:
                    if known:
                        self.need((sect, k) in known, "userdata",
                                  "%s: %s.ini: [%s] %s is no key of shared/config.c" % (n, fname, sect, k))
                for key in [("database", "secret"), ("rabbitmq", "secret"), ("s3", "bucket"), ("aws", "region")] + \
                        ([("api", "pepper_secret")] if fname == "api" else []):
                    v = seen.get(key, "")
                    self.need(re.fullmatch(r"\$\{[A-Za-z:]+\}", v), "userdata",
                              "%s: %s.ini: [%s] %s = %r, want a value from the stack" % (n, fname, key[0], key[1], v))
                mode = seen.get(("database", "sslmode"), "")
                self.need(mode == "verify-full", "userdata",
                          "%s: %s.ini: [database] sslmode = %r, want verify-full (the server's certificate and name "
                          "checked)" % (n, fname, mode))
                ca = seen.get(("database", "sslrootcert"), "")
                fetched = re.search(r"https://truststore\.pki\.rds\.amazonaws\.com/\S+\.pem", sub[:start])
                self.need(ca.startswith("/") and fetched and re.search(r"\s%s\s*$" % re.escape(ca), sub[:start], re.M),
                          "userdata", "%s: [database] sslrootcert = %r, want the RDS CA bundle the user data puts "
                          "there (from truststore.pki.rds.amazonaws.com)" % (n, ca))
            seen = files[prog][0]
            if prog == "api":
                self.need(seen.get(("api", "connection_timeout")) == "75s" and seen.get(("api", "max_wait")) == "50s",
                          "userdata", "%s: [api] connection_timeout 75s (above the ALB's idle 60 s) and max_wait 50s "
                                      "(below it)" % n)
            else:
                self.need(seen.get(("worker", "logo")) == "/usr/share/spool/logo.png", "userdata",
                          "%s: [worker] logo is the package's /usr/share/spool/logo.png" % n)
                self.need(seen.get(("worker", "health_listen"), "").startswith("127.0.0.1:"), "userdata",
                          "%s: [worker] health_listen on loopback" % n)
            self.need(seen.get(("rabbitmq", "queue_type"), "quorum") == "quorum", "userdata",
                      "%s: quorum queues" % n)
            self.need(seen.get(("log", "cloudwatch_group")) in ("${ApiLogGroup}", "${WorkerLogGroup}"), "userdata",
                      "%s: [log] cloudwatch_group is the stack's log group" % n)
            # no `set -e`: every unit is enabled even when a step (the broker, a signal) fails
            self.need(not re.search(r"^\s*set -[a-z]*e", sub, re.M), "userdata",
                      "%s: `set -e` would stop before every unit is enabled" % n)
            if prog == "api":
                en = sub.find("systemctl enable spool-migrate.service spool-api.service")
                st = sub.find("systemctl start --no-block spool-migrate.service spool-api.service")
                probe = "http://127.0.0.1:8000/ready"
            else:
                en = sub.find('systemctl enable "spool-worker@$i.service"')
                st = sub.find('systemctl start --no-block "spool-worker@$i.service"')
                probe = "http://127.0.0.1:$((8080 + i))/health"
            self.need(0 <= en < st, "userdata", "%s: enables the %s units, then starts them" % (n, prog))
            self.need(sub.count("db bootstrap") == 0 and (prog != "api" or sub.count("systemctl enable spool-migrate.service") == 1),
                      "userdata", "%s: the first boot runs through spool-migrate.service only" % n)
            group = group_of.get(n)
            sig = sub.find("signal SUCCESS")
            self.need(group and "--logical-resource-id %s " % group in sub and 0 <= sub.find(probe) < sig,
                      "userdata", "%s: signals %s SUCCESS after %s answers 200" % (n, group, probe))
            self.need("${PackageUrl}" in sub, "userdata", "%s: installs from PackageUrl" % n)
            # EC2 takes 16 KiB of user data before base64; each substitution counted at
            # 256 bytes (an ARN, a presigned URL's worth)
            size = len(re.sub(r"\$\{[^}]+\}", "", sub).encode()) + 256 * len(re.findall(r"\$\{[^}]+\}", sub))
            self.need(size <= 16384, "userdata", "%s: user data of up to %d bytes, over EC2's 16 KiB" % (n, size))

    def run(self):
        for step in (self.refs, self.sg, self.iam, self.data, self.userdata):
            try:
                step()
            except (KeyError, TypeError, AttributeError, StopIteration, ValueError) as e:
                self.errors.append("%s: template not in the expected shape (%s: %s)" % (step.__name__, type(e).__name__, e))
        return self.errors


def main(argv):
    path = argv[1] if len(argv) > 1 else "deploy/spool.yaml"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    c = Checker(load(path), root)
    errs = c.run()
    for e in errs:
        print("FAIL " + e)
    print("security-groups-check: %s: %d checks, %d failed" % (path, c.checked, len(errs)))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
