//go:build tools

// Package tools pins the Pulumi CLI's main package so that `go build` of it resolves against
// this module's go.mod: the CLI's own module has replace directives, which `go install
// module@version` refuses, so scripts/setup.sh builds it from here instead.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
