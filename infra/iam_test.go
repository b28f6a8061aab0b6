package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// No identity policy statement allows every action, or every action of
// a service.
func TestNoWildcardActions(t *testing.T) {
	s := sharedStack(t)
	var offenders []string
	for _, st := range s.statements() {
		for _, key := range []string{"Action", "NotAction"} {
			for _, a := range strs(st.statement[key]) {
				if a == "*" || strings.HasSuffix(a, ":*") {
					offenders = append(offenders, fmt.Sprintf("%s: %s %q", st.where, key, a))
				}
			}
		}
		if _, ok := st.statement["NotAction"]; ok {
			offenders = append(offenders, st.where+": NotAction")
		}
	}
	if len(offenders) > 0 {
		t.Errorf("wildcard actions:\n%s", strings.Join(offenders, "\n"))
	}
	if len(s.statements()) == 0 {
		t.Fatal("no policy statements found")
	}
}

// Resource "*" appears only with the actions AWS defines no resources
// for: X-Ray's, and Step Functions' log delivery.
func TestResourceWildcardOnlyWhereRequired(t *testing.T) {
	s := sharedStack(t)
	unscoped := map[string]bool{
		"xray:PutTraceSegments": true, "xray:PutTelemetryRecords": true,
		"xray:GetSamplingRules": true, "xray:GetSamplingTargets": true,
		"logs:CreateLogDelivery": true, "logs:GetLogDelivery": true, "logs:UpdateLogDelivery": true,
		"logs:DeleteLogDelivery": true, "logs:ListLogDeliveries": true, "logs:PutResourcePolicy": true,
		"logs:DescribeResourcePolicies": true, "logs:DescribeLogGroups": true,
	}
	for _, st := range s.statements() {
		if !slices.Contains(strs(st.statement["Resource"]), "*") {
			continue
		}
		for _, a := range strs(st.statement["Action"]) {
			if !unscoped[a] {
				t.Errorf("%s: %s on Resource *", st.where, a)
			}
		}
	}
}

// Each function's role allows what README.md says it does, and nothing
// more.
func TestFunctionPermissions(t *testing.T) {
	s := sharedStack(t)
	const (
		table      = "<Table>"
		indexes    = "<Table>/index/*"
		objects    = "<OutputBucket>/*"
		bucket     = "<OutputBucket>"
		keys       = "<KeysSecret>"
		provs      = "<ProvidersSecret>"
		logs       = "<own log group>"
		everything = "*"
	)
	machine := func(name string) string {
		return "arn:aws:states:us-east-1:123456789012:stateMachine:mediatasks-dev-" + name
	}
	executions := func(name string) string {
		return "arn:aws:states:us-east-1:123456789012:execution:mediatasks-dev-" + name + ":*"
	}
	allQueues := []string{
		"<tasks-high>", "<tasks-high-dlq>", "<tasks-normal>", "<tasks-normal-dlq>",
		"<tasks-low>", "<tasks-low-dlq>", "<webhooks>", "<webhooks-dlq>",
	}
	taskQueues := []string{"<tasks-high>", "<tasks-normal>", "<tasks-low>"}
	machines := []string{machine("task"), machine("task-long"), machine("batch")}
	items := []string{table, indexes}
	common := map[string][]string{
		"logs:CreateLogStream":          {logs},
		"logs:PutLogEvents":             {logs},
		"xray:PutTraceSegments":         {everything},
		"xray:PutTelemetryRecords":      {everything},
		"secretsmanager:GetSecretValue": {keys, provs},
		"sqs:GetQueueAttributes":        allQueues,
	}
	itemActions := map[string][]string{}
	for _, a := range []string{"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "BatchGetItem", "BatchWriteItem", "ConditionCheckItem"} {
		itemActions["dynamodb:"+a] = items
	}
	consume := func(queues ...string) map[string][]string {
		return map[string][]string{
			"sqs:ReceiveMessage": queues, "sqs:DeleteMessage": queues, "sqs:ChangeMessageVisibility": queues,
			"sqs:GetQueueUrl": queues, "sqs:GetQueueAttributes": queues,
		}
	}
	want := map[string][]map[string][]string{
		"submit": {common, itemActions, {
			"dynamodb:DescribeTable":      {table},
			"sqs:SendMessage":             append(slices.Clone(taskQueues), "<webhooks>"),
			"s3:PutObject":                {objects}, // presigned upload URLs
			"s3:GetObject":                {objects}, // presigned download URLs
			"s3:DeleteObject":             {objects}, // a replayed upload's copy
			"s3:ListBucket":               {bucket},  // HeadObject of an upload id: 404 rather than 403
			"states:StopExecution":        {executions("task-long")},
			"states:GetExecutionHistory":  {executions("task-long")},
			"states:SendTaskSuccess":      {machine("task-long")}, // providers' callbacks end a wait
			"states:DescribeStateMachine": machines,
		}},
		"status": {common, {
			"dynamodb:GetItem": items, "dynamodb:Query": items, "dynamodb:BatchGetItem": items,
			"dynamodb:PutItem": items, "dynamodb:UpdateItem": items, "dynamodb:ConditionCheckItem": items,
			"dynamodb:DescribeTable":      {table},
			"s3:GetObject":                {objects},
			"s3:ListBucket":               {bucket},
			"states:DescribeStateMachine": machines,
		}},
		"process": {common, itemActions, consume(taskQueues...), {
			"sqs:SendMessage":       append(slices.Clone(taskQueues), "<webhooks>"),
			"s3:PutObject":          {objects},
			"s3:GetObject":          {objects},
			"s3:DeleteObject":       {objects},
			"s3:ListBucket":         {bucket}, // a missing input upload is upload_not_found
			"states:StartExecution": machines,
		}},
		"webhook": {common, itemActions, consume("<webhooks>"), {
			"s3:GetObject": {objects},
		}},
	}

	names := s.logicalNames()
	for name, parts := range want {
		wantActions := map[string][]string{}
		for _, part := range parts {
			for action, resources := range part {
				wantActions[action] = append(wantActions[action], resources...)
			}
		}
		_, fn := s.named(t, "AWS::Lambda::Function", "FunctionName", "mediatasks-dev-"+name)
		roleID := fn.Properties["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
		logGroup := fn.Properties["LoggingConfig"].(map[string]any)["LogGroup"].(map[string]any)["Ref"].(string)
		got := s.roleActions(t, roleID)
		for action, resources := range got {
			for i, r := range resources {
				r = strings.ReplaceAll(r, "<"+logGroup+">", logs)
				for id, name := range names {
					r = strings.ReplaceAll(r, "<"+id+">", "<"+name+">")
				}
				resources[i] = r
			}
			got[action] = dedupe(resources)
		}
		for action, resources := range wantActions {
			wantActions[action] = dedupe(resources)
		}
		for action, resources := range got {
			w, ok := wantActions[action]
			switch {
			case !ok:
				t.Errorf("%s: allowed %s on %v, which it does not need", name, action, resources)
			case !slices.Equal(resources, w):
				t.Errorf("%s: %s on %v, want %v", name, action, resources, w)
			}
		}
		for action, resources := range wantActions {
			if _, ok := got[action]; !ok {
				t.Errorf("%s: not allowed %s on %v", name, action, resources)
			}
		}
	}
}

// logicalNames names the logical ids the permission test refers to:
// the table, the bucket, the secrets and each queue by its name.
func (s synthesized) logicalNames() map[string]string {
	names := map[string]string{}
	for id, r := range s.resources {
		switch r.Type {
		case "AWS::DynamoDB::Table":
			names[id] = "Table"
		case "AWS::SQS::Queue":
			names[id] = strings.TrimPrefix(fmt.Sprint(r.Properties["QueueName"]), "mediatasks-dev-")
		case "AWS::SecretsManager::Secret":
			switch r.Properties["Name"] {
			case "mediatasks/dev/keys":
				names[id] = "KeysSecret"
			case "mediatasks/dev/providers":
				names[id] = "ProvidersSecret"
			}
		case "AWS::S3::Bucket":
			if _, ok := r.Properties["CorsConfiguration"]; ok {
				names[id] = "OutputBucket"
			}
		}
	}
	return names
}

func dedupe(a []string) []string {
	c := sortedCopy(a)
	return slices.Compact(c)
}

// The state machines' roles: each invokes the process function; the
// batch machine also starts and watches the standard task machine.
func TestStateMachinePermissions(t *testing.T) {
	s := sharedStack(t)
	process := "arn:aws:lambda:us-east-1:123456789012:function:mediatasks-dev-process"
	for name, extra := range map[string]map[string][]string{
		"task":      {},
		"task-long": {},
		"batch": {
			"states:StartExecution":    {"arn:aws:states:us-east-1:123456789012:stateMachine:mediatasks-dev-task-long"},
			"states:DescribeExecution": {"arn:aws:states:us-east-1:123456789012:execution:mediatasks-dev-task-long:*"},
			"states:StopExecution":     {"arn:aws:states:us-east-1:123456789012:execution:mediatasks-dev-task-long:*"},
			"events:PutTargets":        {"arn:aws:events:us-east-1:123456789012:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"},
			"events:PutRule":           {"arn:aws:events:us-east-1:123456789012:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"},
			"events:DescribeRule":      {"arn:aws:events:us-east-1:123456789012:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"},
		},
	} {
		_, sm := s.named(t, "AWS::StepFunctions::StateMachine", "StateMachineName", "mediatasks-dev-"+name)
		roleID := sm.Properties["RoleArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
		got := s.roleActions(t, roleID)
		want := map[string][]string{"lambda:InvokeFunction": {process}}
		for k, v := range extra {
			want[k] = v
		}
		for action, resources := range want {
			if !slices.Equal(dedupe(got[action]), resources) {
				t.Errorf("%s: %s on %v, want %v", name, action, got[action], resources)
			}
		}
		for action, resources := range got {
			if _, ok := want[action]; ok {
				continue
			}
			// Logging and tracing are all the machine's role holds besides.
			if !strings.HasPrefix(action, "xray:") && !strings.HasPrefix(action, "logs:") {
				t.Errorf("%s: allowed %s on %v", name, action, resources)
			}
		}
	}
}

// Nor does any resource policy (buckets, queues, topic, key): a
// service-wide action appears only in a Deny, as the statements that
// refuse requests without TLS are written.
func TestResourcePoliciesAllowNoWildcardActions(t *testing.T) {
	s := sharedStack(t)
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["Effect"]; ok && x["Effect"] == "Allow" {
				for _, a := range strs(x["Action"]) {
					if a == "*" || strings.HasSuffix(a, ":*") {
						t.Errorf("%s: allows %q", where, a)
					}
				}
			}
			for k, e := range x {
				walk(where+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(where, e)
			}
		}
	}
	for id, r := range s.resources {
		walk(id, r.Properties)
	}
}
