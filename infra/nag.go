package main

import (
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// nagSuppression is a cdk-nag finding accepted on purpose, with why.
type nagSuppression struct {
	id, reason string
	// appliesTo narrows an IAM finding to the named wildcards: plain
	// strings ("Resource::*") or regular expressions ("/.../g").
	appliesTo []string
}

// suppress records suppressions on construct and everything under it
// (a role and its default policy, a state machine and its role).
func suppress(construct constructs.IConstruct, suppressions ...nagSuppression) {
	var out []*cdknag.NagPackSuppression
	for _, s := range suppressions {
		ns := &cdknag.NagPackSuppression{Id: jsii.String(s.id), Reason: jsii.String(s.reason)}
		if len(s.appliesTo) > 0 {
			applies := make([]any, 0, len(s.appliesTo))
			for _, a := range s.appliesTo {
				if len(a) > 1 && a[0] == '/' {
					applies = append(applies, &cdknag.RegexAppliesTo{Regex: jsii.String(a)})
				} else {
					applies = append(applies, a)
				}
			}
			ns.AppliesTo = &applies
		}
		out = append(out, ns)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(construct, &out, jsii.Bool(true))
}

// xrayWildcard is the suppression every traced resource's role needs.
var xrayWildcard = nagSuppression{
	id:        "AwsSolutions-IAM5",
	reason:    "X-Ray tracing: xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules and GetSamplingTargets have no resource-level permissions, so AWS requires Resource \"*\".",
	appliesTo: []string{"Resource::*"},
}
