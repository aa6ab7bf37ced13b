#!/usr/bin/python3
"""userdata.py — a launch template's user data of deploy/spool.yaml, rendered.
    scripts/userdata.py LAUNCH_TEMPLATE [--template FILE] [--region R] [--account-id N]
                        [--stack-name S] [--value NAME=VALUE]...
Prints the UserData of the AWS::EC2::LaunchTemplate LAUNCH_TEMPLATE (its logical id,
e.g. ApiLaunchTemplate) as the instance receives it: the Fn::Sub under Fn::Base64
resolved as CloudFormation would, with the resolver of scripts/iam-policies.py (Ref of
parameters from --value or their Default, of resources from --value: a secret its ARN,
a bucket or a log group its name; the pseudo parameters). A name without a value is
an error: nothing half rendered is printed. tests/t0915-firstboot.sh runs the result
in a throwaway root with the local stack's values.
Exit status: 0 when printed, 1 otherwise.
"""
import argparse
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("iampol", os.path.join(HERE, "iam-policies.py"))
_iam = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_iam)


def main(argv):
    ap = argparse.ArgumentParser(description="render a launch template's user data")
    ap.add_argument("launch_template")
    ap.add_argument("--template", default=os.path.join(HERE, "..", "deploy", "spool.yaml"))
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--account-id", default="000000000000")
    ap.add_argument("--stack-name", default="spool-local")
    ap.add_argument("--value", action="append", default=[], metavar="NAME=VALUE")
    a = ap.parse_args(argv)
    values = _iam.parse_values(ap, a.value)
    t = _iam._sgc.load(a.template)
    lt = t.get("Resources", {}).get(a.launch_template, {})
    if lt.get("Type") != "AWS::EC2::LaunchTemplate":
        print("userdata: %s is no launch template of %s" % (a.launch_template, a.template), file=sys.stderr)
        return 1
    ud = lt["Properties"]["LaunchTemplateData"].get("UserData")
    if not isinstance(ud, dict) or list(ud) != ["Fn::Base64"]:
        print("userdata: %s has no UserData of Fn::Base64" % a.launch_template, file=sys.stderr)
        return 1
    r = _iam.Resolver(t, values, a.region, a.account_id, a.stack_name)
    try:
        text = r.resolve(ud["Fn::Base64"])
    except _iam.Unresolved as e:
        print("userdata: %s" % e, file=sys.stderr)
        return 1
    if not isinstance(text, str):
        print("userdata: the user data does not resolve to text", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
