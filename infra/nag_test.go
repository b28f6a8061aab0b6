package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
)

var awsSolutionsRule = assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))

// The stack passes the cdk-nag AWS Solutions checks: no error is left
// unsuppressed.
func TestNagErrors(t *testing.T) {
	s := sharedStack(t)
	errs := assertions.Annotations_FromStack(s.stack).FindError(jsii.String("*"), awsSolutionsRule)
	if errs != nil && len(*errs) > 0 {
		t.Errorf("cdk-nag errors:\n%s", describeMessages(*errs))
	}
}

// A cdk-nag warning is either fixed or accepted in README.md, under its
// rule id.
func TestNagWarningsAreAddressed(t *testing.T) {
	s := sharedStack(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	warnings := assertions.Annotations_FromStack(s.stack).FindWarning(jsii.String("*"), awsSolutionsRule)
	if warnings == nil {
		return
	}
	rule := regexp.MustCompile(`AwsSolutions-[A-Za-z0-9]+`)
	var open []*cxapi.SynthesisMessage
	for _, w := range *warnings {
		id := rule.FindString(fmt.Sprint(w.Entry.Data))
		if id == "" || !strings.Contains(string(readme), id) {
			open = append(open, w)
		}
	}
	if len(open) > 0 {
		t.Errorf("cdk-nag warnings neither fixed nor accepted in README.md:\n%s", describeMessages(open))
	}
}

// Every suppression names its rule and says why, specifically.
func TestNagSuppressionsHaveReasons(t *testing.T) {
	s := sharedStack(t)
	count := 0
	for id, r := range s.resources {
		nag, _ := r.Metadata["cdk_nag"].(map[string]any)
		rules, _ := nag["rules_to_suppress"].([]any)
		for _, rule := range rules {
			count++
			m := rule.(map[string]any)
			reason, _ := m["reason"].(string)
			if !strings.HasPrefix(fmt.Sprint(m["id"]), "AwsSolutions-") {
				t.Errorf("%s: suppression of %v", id, m["id"])
			}
			if len(reason) < 60 {
				t.Errorf("%s: %v suppressed with too short a reason: %q", id, m["id"], reason)
			}
		}
	}
	if count == 0 {
		t.Error("no suppressions found in the template metadata")
	}
}

func describeMessages(messages []*cxapi.SynthesisMessage) string {
	var b strings.Builder
	for _, m := range messages {
		fmt.Fprintf(&b, "%s: %v\n", *m.Id, m.Entry.Data)
	}
	return b.String()
}
