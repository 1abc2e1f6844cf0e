#!/usr/bin/env bash
# shellcheck disable=SC2034,SC2154 # given_*, previous_*, value_*: set by printf -v, read by ${!name}
# Deploys Countersign to AWS with the SAM CLI (`make deploy STAGE=...`), and
# checks the template without deploying (`make deploy-check`).
#
#   scripts/deploy.sh STAGE [--yes] [Name=Value ...]
#   scripts/deploy.sh --check
#
# A deploy asks three things, each with a default (the answer given last
# time on this machine, kept in .aws-sam/deploy/<stack>.env):
#   1. the sender address (MailFrom),
#   2. the first administrator's e-mail address (AdminEmail), who is invited
#      by e-mail on a new stage,
#   3. optionally a custom domain (DomainName) and its ACM certificate
#      (CertificateArn).
# Then it runs `sam build` and a non-guided `sam deploy` with those answers.
# It does not use `sam deploy --guided`, which re-prompts the NoEcho
# AdminToken with no way to leave it empty and stops at "<Function> has no
# authentication. Is this okay? [y/N]" (Enter aborts). Countersign's routes
# authenticate in the application (tokens, sessions, SDK keys, signed links),
# which is why the template has no API Gateway authorizer; infra/README.md
# says more.
#
# Name=Value arguments are more template parameters (AlarmEmail=...,
# SenderIdentity=address...); giving MailFrom, AdminEmail, DomainName or
# CertificateArn that way skips its question. Parameters not given keep
# their deployed value on an existing stack (SAM passes UsePreviousValue),
# or take their default on a new one. --yes answers the final confirmation
# (and, for prod, SAM's change-set confirmation) in advance, for CI.
#
# COUNTERSIGN_DEPLOY_STATE overrides the directory of the remembered answers.
# Written for bash 3.2 too (macOS): no associative arrays.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

config_file=infra/samconfig.toml

# The same patterns as the template's AllowedPattern of MailFrom, AdminEmail,
# DomainName and CertificateArn (infra/deploy_script_test.go compares them).
email_re='^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$'
domain_re='^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$'
cert_re='^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$'

say() { printf '%s\n' "$*" >&2; }
die() { say "deploy: $*"; exit 1; }

usage() {
  say "usage: scripts/deploy.sh STAGE [--yes] [Name=Value ...]   (STAGE: dev, staging or prod)"
  say "       scripts/deploy.sh --check                          (cfn-lint and the SAM translation of template.yaml)"
  exit 2
}

# ---------------------------------------------------------------- --check
check() {
  command -v cfn-lint >/dev/null || die "cfn-lint is not installed (pip install cfn-lint)"
  python3 -c 'import samtranslator' 2>/dev/null || die "the SAM translator is not installed (pip install aws-sam-translator; cfn-lint brings it)"
  cfn-lint template.yaml
  echo "cfn-lint: template.yaml is valid (SAM transform, resource schemas, no dependency cycle)"
  # What `sam deploy` hands CloudFormation is this translation; local
  # CodeUri values become S3 locations first, as `sam package` does.
  AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" python3 - <<'PY'
import sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
from samtranslator.model.exceptions import InvalidDocumentException

class NoManagedPolicies:  # the template uses inline policies only
    def load(self):
        return {}

with open("template.yaml") as f:
    template = yaml_parse(f.read())
for name, resource in template.get("Resources", {}).items():
    if resource.get("Type") == "AWS::Serverless::Function":
        resource.setdefault("Properties", {})["CodeUri"] = "s3://countersign-deploy-check/%s.zip" % name
try:
    out = transform(template, {}, NoManagedPolicies())
except InvalidDocumentException as e:
    for cause in e.causes:
        print("SAM translation: " + cause.message, file=sys.stderr)
    sys.exit(1)
serverless = [n for n, r in out["Resources"].items() if r["Type"].startswith("AWS::Serverless::")]
if serverless:
    print("SAM translation left serverless resources: %s" % serverless, file=sys.stderr)
    sys.exit(1)
print("SAM translation: template.yaml becomes %d CloudFormation resources" % len(out["Resources"]))
PY
}

# ---------------------------------------------------------------- helpers
# samconfig KEY: the value of KEY in [<stage>.deploy.parameters].
samconfig() {
  awk -v section="[$stage.deploy.parameters]" -v key="$1" '
    /^\[/ { in_section = ($0 == section); next }
    in_section && $1 == key { sub(/^[^=]*=[ \t]*/, ""); gsub(/^"|"$/, ""); print; exit }
  ' "$config_file"
}

# The template's parameter names.
template_parameters() {
  awk '/^[A-Za-z]/ { in_params = ($0 == "Parameters:"); next }
       in_params && /^  [A-Za-z0-9]+:/ { sub(/:.*/, ""); sub(/^  /, ""); print }' template.yaml
}

# quote VALUE: a value as --parameter-overrides reads it (empty or with
# spaces and quotes: double-quoted, inner quotes escaped).
quote() {
  case "$1" in
    "" | *[[:space:]\"\'\\]*) local v=${1//\\/\\\\}; printf '"%s"' "${v//\"/\\\"}" ;;
    *) printf '%s' "$1" ;;
  esac
}

# valid NAME VALUE: empty output when VALUE suits NAME, else why not.
valid() {
  case "$1" in
    MailFrom)
      [[ $2 =~ $email_re ]] || echo "not a plain e-mail address such as countersign@example.com" ;;
    AdminEmail)
      [[ $2 =~ $email_re ]] || echo "not a plain e-mail address such as ada@example.com" ;;
    DomainName)
      [[ -z $2 || $2 =~ $domain_re ]] || echo "not a host name such as flags.example.com" ;;
    CertificateArn)
      if ! [[ $2 =~ $cert_re ]]; then
        echo "not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"
      elif [ -n "$region" ] && [ "$(cut -d: -f4 <<<"$2")" != "$region" ]; then
        echo "the certificate is in $(cut -d: -f4 <<<"$2"), but a regional API in $region needs one issued in $region"
      fi ;;
  esac
}

# ask NAME QUESTION DEFAULT: reads an answer until it is valid; Enter takes
# DEFAULT. Sets answer. For DomainName, "none" means no custom domain.
ask() {
  local name=$1 question=$2 def=$3 line why
  while :; do
    if [ -n "$def" ]; then printf '%s [%s]: ' "$question" "$def" >&2; else printf '%s: ' "$question" >&2; fi
    if ! IFS= read -r line; then
      say ""
      line=""
      eof=1
    fi
    line="$(printf '%s' "$line" | tr -d '[:space:]')"
    [ -n "$line" ] || line=$def
    if [ "$name" = DomainName ]; then
      line="$(printf '%s' "$line" | tr '[:upper:]' '[:lower:]')"
      [ "$line" != none ] || line=""
    fi
    why="$(valid "$name" "$line")"
    if [ -z "$why" ]; then
      answer=$line
      return
    fi
    [ -n "$line" ] || why="an answer is needed"
    if [ "${eof:-0}" = 1 ]; then
      die "$name: $why (input ended; pass $name=... as an argument to answer in advance)"
    fi
    say "  $why"
  done
}

# ---------------------------------------------------------------- arguments
[ $# -ge 1 ] || usage
if [ "$1" = --check ]; then
  [ $# -eq 1 ] || usage
  check
  exit 0
fi
stage=$1
shift
case "$stage" in dev | staging | prod) ;; *) usage ;; esac

yes=0
extra=()
# given_<Name>: answers passed as arguments; previous_<Name>: remembered ones.
given_MailFrom="" given_AdminEmail="" given_DomainName="" given_CertificateArn=""
has_given=" "
known=" $(template_parameters | tr '\n' ' ') "
for arg in "$@"; do
  case "$arg" in
    --yes | -y) yes=1; continue ;;
    -*) usage ;;
  esac
  [[ $arg =~ ^([A-Za-z][A-Za-z0-9]*)=(.*)$ ]] || die "$arg: want Name=Value, a template parameter and its value"
  name=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
  [[ $known == *" $name "* ]] || die "$name is not a parameter of template.yaml"
  case "$name" in
    Stage) die "Stage comes from STAGE (make deploy STAGE=$stage)" ;;
    MailFrom | AdminEmail | DomainName | CertificateArn) printf -v "given_$name" '%s' "$value"; has_given+="$name " ;;
    *) extra+=("$name=$(quote "$value")") ;;
  esac
done

stack="$(samconfig stack_name)"
region="$(samconfig region)"
[ -n "$stack" ] || die "$config_file has no stack_name in [$stage.deploy.parameters]"
command -v sam >/dev/null || die "the AWS SAM CLI is not installed: https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html"

# Answers remembered from the last deploy of this stack on this machine.
state_dir="${COUNTERSIGN_DEPLOY_STATE:-$root/.aws-sam/deploy}"
state_file="$state_dir/$stack.env"
previous_MailFrom="" previous_AdminEmail="" previous_DomainName="" previous_CertificateArn=""
if [ -f "$state_file" ]; then
  while IFS='=' read -r k v; do
    case "$k" in MailFrom | AdminEmail | DomainName | CertificateArn) printf -v "previous_$k" '%s' "$v" ;; esac
  done <"$state_file"
fi

# ---------------------------------------------------------------- the questions
say "Deploying Countersign stage $stage: stack $stack in ${region:-the default region} ($config_file)."
# settle NAME QUESTION: sets value_<Name> from the argument, else asks.
settle() {
  local v why prev="previous_$1" given="given_$1"
  if [[ $has_given == *" $1 "* ]]; then
    v=${!given}
    [ "$1" != DomainName ] || v="$(printf '%s' "$v" | tr '[:upper:]' '[:lower:]')"
    # AdminEmail= (empty) is allowed as an argument: no invitation.
    why=""
    [ "$1$v" = AdminEmail ] || why="$(valid "$1" "$v")"
    [ -z "$why" ] || die "$1=$v: $why"
  else
    ask "$1" "$2" "${!prev}"
    v=$answer
  fi
  printf -v "value_$1" '%s' "$v"
}
settle MailFrom "1/3 Sender address of every e-mail (MailFrom; SES must verify it or its domain)"
settle AdminEmail "2/3 E-mail address of the first administrator, invited on a new stage (AdminEmail)"
settle DomainName "3/3 Custom domain, e.g. flags.example.com (DomainName; empty or none: the API's own URL)"
if [ -n "$value_DomainName" ]; then
  settle CertificateArn "    ACM certificate for $value_DomainName, issued in ${region:-the stack region} (CertificateArn)"
else
  [ -z "$given_CertificateArn" ] || die "CertificateArn needs a DomainName"
  value_CertificateArn=""
fi

overrides="Stage=$stage"
for name in MailFrom AdminEmail DomainName CertificateArn; do
  v="value_$name"
  overrides+=" $name=$(quote "${!v}")"
done
for e in ${extra[@]+"${extra[@]}"}; do
  overrides+=" $e"
done

say ""
say "  stack           $stack (${region:-default region})"
say "  MailFrom        $value_MailFrom"
say "  AdminEmail      ${value_AdminEmail:-(none: nobody is invited)}"
if [ -n "$value_DomainName" ]; then
  say "  DomainName      $value_DomainName"
  say "  CertificateArn  $value_CertificateArn"
else
  say "  DomainName      (none: links use the API's own URL)"
fi
for e in ${extra[@]+"${extra[@]}"}; do
  case "$e" in
    AdminToken=\"\") say "  AdminToken      (emptied)" ;;
    AdminToken=*) say "  AdminToken      (set, not shown)" ;;
    *) say "  $(printf '%-16s' "${e%%=*}")${e#*=}" ;;
  esac
done
say "  other parameters keep their deployed values (or take their defaults on a new stack)"
if [ "$yes" != 1 ]; then
  printf 'Build and deploy? [Y/n]: ' >&2
  reply=""
  IFS= read -r reply || say ""
  case "$reply" in
    "" | [Yy] | [Yy][Ee][Ss]) ;;
    *) die "stopped; nothing was deployed" ;;
  esac
fi

mkdir -p "$state_dir"
{
  for name in MailFrom AdminEmail DomainName CertificateArn; do
    v="value_$name"
    printf '%s=%s\n' "$name" "${!v}"
  done
} >"$state_file"

# ---------------------------------------------------------------- sam
# prod: SAM lists the change set and asks before executing it, unless --yes.
confirm=--no-confirm-changeset
if [ "$stage" = prod ] && [ "$yes" != 1 ]; then
  confirm=--confirm-changeset
fi

say ""
say "==> sam build"
sam build
say ""
say "==> sam deploy ($stack)"
if [ "$confirm" = --confirm-changeset ]; then
  say "SAM lists the changes to $stack, then asks \"Deploy this changeset? [y/N]\": type y to deploy them."
  say "(Enter or n leaves the stack as it is.)"
fi
sam deploy --config-file "$config_file" --config-env "$stage" \
  --capabilities CAPABILITY_IAM --resolve-s3 "$confirm" \
  --parameter-overrides "$overrides"

say ""
say "Once the stack is deployed (infra/README.md, \"After the first deploy\"):"
say "  - SES: verify the sender identity (publish the DkimRecord outputs above, or click the link SES mailed"
say "    to $value_MailFrom); in the SES sandbox also verify $value_AdminEmail, or request production access."
if [ -n "$value_DomainName" ]; then
  say "  - DNS: point $value_DomainName at the CustomDomainTarget output (CNAME, or a Route 53 alias)."
fi
say "  - Alarms: confirm the subscription mail AWS sent, if AlarmEmail is set."
