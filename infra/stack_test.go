package main

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/videoai/mediatasks/shared/store/dynamostore"
)

// hasResource asserts that a resource of cfnType has props (matched
// as assertions.Match_ObjectLike does), failing the test, not panicking.
func hasResource(t *testing.T, s synthesized, cfnType string, props map[string]any) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", cfnType, r)
		}
	}()
	s.template.HasResourceProperties(jsii.String(cfnType), props)
}

func TestTable(t *testing.T) {
	s := sharedStack(t)
	keys := func(pk, sk string) []any {
		return []any{
			map[string]any{"AttributeName": pk, "KeyType": "HASH"},
			map[string]any{"AttributeName": sk, "KeyType": "RANGE"},
		}
	}
	var indexes []any
	for _, name := range []string{"GSI1", "GSI2", "GSI3"} {
		// The stack projects what the store reads from each index.
		var include []any
		for _, attr := range dynamostore.IndexProjections[name] {
			include = append(include, attr)
		}
		indexes = append(indexes, map[string]any{
			"IndexName":  name,
			"KeySchema":  keys(name+"PK", name+"SK"),
			"Projection": map[string]any{"ProjectionType": "INCLUDE", "NonKeyAttributes": include},
		})
	}
	hasResource(t, s, "AWS::DynamoDB::Table", map[string]any{
		"TableName":                        "mediatasks-dev",
		"BillingMode":                      "PAY_PER_REQUEST",
		"KeySchema":                        keys("PK", "SK"),
		"GlobalSecondaryIndexes":           indexes,
		"TimeToLiveSpecification":          map[string]any{"AttributeName": "expires_at", "Enabled": true},
		"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		// SSEEnabled alone is KMS with the AWS managed key (aws/dynamodb).
		"SSESpecification":          assertions.Match_ObjectEquals(&map[string]any{"SSEEnabled": true}),
		"DeletionProtectionEnabled": true,
	})
	for _, attr := range []string{"PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"} {
		hasResource(t, s, "AWS::DynamoDB::Table", map[string]any{
			"AttributeDefinitions": assertions.Match_ArrayWith(&[]any{map[string]any{"AttributeName": attr, "AttributeType": "S"}}),
		})
	}
	_, table := s.named(t, "AWS::DynamoDB::Table", "TableName", "mediatasks-dev")
	if table.DeletionPolicy != "Retain" {
		t.Errorf("table DeletionPolicy %q, want Retain", table.DeletionPolicy)
	}
}

func TestOutputBucket(t *testing.T) {
	s := sharedStack(t)
	hasResource(t, s, "AWS::S3::Bucket", map[string]any{
		"PublicAccessBlockConfiguration": map[string]any{
			"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
		},
		"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
			map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}},
		}},
		"LifecycleConfiguration": map[string]any{"Rules": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
			"ExpirationInDays":               30,
			"AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": 1},
			"Status":                         "Enabled",
		})})},
		"CorsConfiguration": map[string]any{"CorsRules": []any{assertions.Match_ObjectLike(&map[string]any{
			"AllowedMethods": []any{"GET", "PUT"},
			"AllowedOrigins": []any{"*"},
			"AllowedHeaders": []any{"content-type", "content-length", "x-amz-server-side-encryption"},
		})}},
		"LoggingConfiguration": map[string]any{"DestinationBucketName": assertions.Match_AnyValue()},
	})
	// Both buckets (outputs, access logs) refuse requests without TLS.
	policies := s.ofType("AWS::S3::BucketPolicy")
	if len(policies) != 2 {
		t.Fatalf("bucket policies: %d, want 2", len(policies))
	}
	for id, p := range policies {
		denies := false
		for _, st := range p.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			m := st.(map[string]any)
			cond, _ := m["Condition"].(map[string]any)
			if m["Effect"] == "Deny" && cond["Bool"] != nil {
				denies = denies || cond["Bool"].(map[string]any)["aws:SecureTransport"] == "false"
			}
		}
		if !denies {
			t.Errorf("%s does not deny requests without TLS", id)
		}
	}
}

func TestQueues(t *testing.T) {
	s := sharedStack(t)
	want := map[string]struct {
		visibility  float64
		maxReceives float64
	}{
		"mediatasks-dev-tasks-high":   {330, 5},
		"mediatasks-dev-tasks-normal": {330, 5},
		"mediatasks-dev-tasks-low":    {330, 5},
		"mediatasks-dev-webhooks":     {90, 30},
	}
	queues := s.ofType("AWS::SQS::Queue")
	if len(queues) != 2*len(want) {
		t.Errorf("queues: %d, want %d", len(queues), 2*len(want))
	}
	for name, w := range want {
		_, q := s.named(t, "AWS::SQS::Queue", "QueueName", name)
		deadID, _ := s.named(t, "AWS::SQS::Queue", "QueueName", name+"-dlq")
		redrive, _ := q.Properties["RedrivePolicy"].(map[string]any)
		if !refersTo(redrive["deadLetterTargetArn"], deadID) {
			t.Errorf("%s: dead-letter target %v, want %s", name, redrive["deadLetterTargetArn"], deadID)
		}
		if redrive["maxReceiveCount"] != w.maxReceives {
			t.Errorf("%s: maxReceiveCount %v, want %v", name, redrive["maxReceiveCount"], w.maxReceives)
		}
		if q.Properties["VisibilityTimeout"] != w.visibility {
			t.Errorf("%s: VisibilityTimeout %v, want %v", name, q.Properties["VisibilityTimeout"], w.visibility)
		}
	}
	// Every queue and dead-letter queue: explicit zero wait and delay,
	// SSE, 14 days.
	for id, q := range queues {
		for prop, want := range map[string]any{
			"ReceiveMessageWaitTimeSeconds": 0.0,
			"DelaySeconds":                  0.0,
			"SqsManagedSseEnabled":          true,
			"MessageRetentionPeriod":        float64(14 * 24 * 60 * 60),
		} {
			if got, ok := q.Properties[prop]; !ok || got != want {
				t.Errorf("%s (%v): %s = %v (set: %t), want %v", id, q.Properties["QueueName"], prop, got, ok, want)
			}
		}
	}
}

// Every queue that is not a dead-letter queue sends what it cannot
// deliver to one.
func TestEveryQueueHasADeadLetterQueue(t *testing.T) {
	s := sharedStack(t)
	queues := s.ofType("AWS::SQS::Queue")
	deadLetterQueues := map[string]bool{}
	for _, q := range queues {
		if redrive, ok := q.Properties["RedrivePolicy"].(map[string]any); ok {
			for id := range queues {
				if refersTo(redrive["deadLetterTargetArn"], id) {
					deadLetterQueues[id] = true
				}
			}
		}
	}
	for id, q := range queues {
		if deadLetterQueues[id] {
			if _, ok := q.Properties["RedrivePolicy"]; ok {
				t.Errorf("%s is a dead-letter queue with a dead-letter queue of its own", id)
			}
			continue
		}
		if _, ok := q.Properties["RedrivePolicy"]; !ok {
			t.Errorf("%s (%v) has no RedrivePolicy", id, q.Properties["QueueName"])
		}
	}
}

// The environment every function gets (shared/cloud/env.go).
var wantEnvironment = []string{
	"MEDIATASKS_TABLE", "MEDIATASKS_BUCKET",
	"MEDIATASKS_TASK_QUEUE_URL_HIGH", "MEDIATASKS_TASK_QUEUE_URL_NORMAL", "MEDIATASKS_TASK_QUEUE_URL_LOW",
	"MEDIATASKS_TASK_DEAD_QUEUE_URL_HIGH", "MEDIATASKS_TASK_DEAD_QUEUE_URL_NORMAL", "MEDIATASKS_TASK_DEAD_QUEUE_URL_LOW",
	"MEDIATASKS_WEBHOOK_QUEUE_URL", "MEDIATASKS_WEBHOOK_DEAD_QUEUE_URL",
	"MEDIATASKS_TASK_STATE_MACHINE_ARN", "MEDIATASKS_BATCH_STATE_MACHINE_ARN", "MEDIATASKS_EXPRESS_TASK_STATE_MACHINE_ARN",
	"MEDIATASKS_KEYS_SECRET_ARN", "MEDIATASKS_PROVIDER_SECRET_ARN",
	"MEDIATASKS_CONFIG", "MEDIATASKS_METRICS_NAMESPACE", "MEDIATASKS_LOG_LEVEL",
}

func TestFunctions(t *testing.T) {
	s := sharedStack(t)
	sizes := map[string]struct {
		memory, timeout, ephemeral float64
	}{
		"submit":  {256, 29, 0},
		"status":  {256, 29, 0},
		"process": {512, 300, 2048},
		"webhook": {256, 60, 0},
	}
	if n := len(s.ofType("AWS::Lambda::Function")); n != len(sizes) {
		t.Errorf("functions: %d, want %d", n, len(sizes))
	}
	var environments []map[string]any
	for name, size := range sizes {
		_, fn := s.named(t, "AWS::Lambda::Function", "FunctionName", "mediatasks-dev-"+name)
		p := fn.Properties
		for prop, want := range map[string]any{
			"Runtime": "provided.al2023", "Handler": "bootstrap", "MemorySize": size.memory, "Timeout": size.timeout,
		} {
			if p[prop] != want {
				t.Errorf("%s: %s = %v, want %v", name, prop, p[prop], want)
			}
		}
		if !slices.Equal(strs(p["Architectures"]), []string{"arm64"}) {
			t.Errorf("%s: Architectures %v", name, p["Architectures"])
		}
		if mode := p["TracingConfig"].(map[string]any)["Mode"]; mode != "Active" {
			t.Errorf("%s: tracing %v", name, mode)
		}
		logging := p["LoggingConfig"].(map[string]any)
		if logging["LogFormat"] != "JSON" || logging["ApplicationLogLevel"] != "INFO" || logging["SystemLogLevel"] != "WARN" || logging["LogGroup"] == nil {
			t.Errorf("%s: LoggingConfig %v", name, logging)
		}
		var ephemeral any
		if e, ok := p["EphemeralStorage"].(map[string]any); ok {
			ephemeral = e["Size"]
		}
		if size.ephemeral != 0 && ephemeral != size.ephemeral || size.ephemeral == 0 && ephemeral != nil {
			t.Errorf("%s: ephemeral storage %v, want %v", name, ephemeral, size.ephemeral)
		}

		env := maps.Clone(p["Environment"].(map[string]any)["Variables"].(map[string]any))
		want := wantEnvironment
		if name == "process" {
			// Its start step gives providers that call back the API's URL.
			want = append(slices.Clone(want), "MEDIATASKS_PUBLIC_BASE_URL")
			if url := fmt.Sprint(env["MEDIATASKS_PUBLIC_BASE_URL"]); !strings.Contains(url, "ApiEndpoint") {
				t.Errorf("process: MEDIATASKS_PUBLIC_BASE_URL = %s, want the API's endpoint", url)
			}
		}
		var names []string
		for k := range env {
			names = append(names, k)
		}
		if !sameSet(names, want) {
			t.Errorf("%s: environment %v, want %v", name, sortedCopy(names), sortedCopy(want))
		}
		delete(env, "MEDIATASKS_PUBLIC_BASE_URL")
		environments = append(environments, env)
	}
	for _, env := range environments[1:] {
		if !reflect.DeepEqual(env, environments[0]) {
			t.Errorf("the functions' environments differ:\n%v\n%v", env, environments[0])
		}
	}

	env := environments[0]
	for key, want := range map[string]string{
		"MEDIATASKS_TASK_STATE_MACHINE_ARN":  "arn:aws:states:us-east-1:123456789012:stateMachine:mediatasks-dev-task-long",
		"MEDIATASKS_BATCH_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:mediatasks-dev-batch",
		// Image tasks submitted alone run on Express by default.
		"MEDIATASKS_EXPRESS_TASK_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:mediatasks-dev-task",
		"MEDIATASKS_METRICS_NAMESPACE":              "MediaTasks/dev",
		"MEDIATASKS_LOG_LEVEL":                      "info",
		"MEDIATASKS_CONFIG":                         "",
	} {
		// Built from the names (never a Ref, which would make a cycle).
		got, err := s.resolve(env[key])
		if err != nil || got != want {
			t.Errorf("%s = %v (%v), want %s", key, env[key], err, want)
		}
	}
	for key, logicalType := range map[string]string{
		"MEDIATASKS_TABLE":               "AWS::DynamoDB::Table",
		"MEDIATASKS_BUCKET":              "AWS::S3::Bucket",
		"MEDIATASKS_KEYS_SECRET_ARN":     "AWS::SecretsManager::Secret",
		"MEDIATASKS_PROVIDER_SECRET_ARN": "AWS::SecretsManager::Secret",
		"MEDIATASKS_WEBHOOK_QUEUE_URL":   "AWS::SQS::Queue",
	} {
		found := false
		for id := range s.ofType(logicalType) {
			found = found || refersTo(env[key], id)
		}
		if !found {
			t.Errorf("%s = %v: not a reference to a %s", key, env[key], logicalType)
		}
	}
	keysID, _ := s.named(t, "AWS::SecretsManager::Secret", "Name", "mediatasks/dev/keys")
	providersID, _ := s.named(t, "AWS::SecretsManager::Secret", "Name", "mediatasks/dev/providers")
	if !refersTo(env["MEDIATASKS_KEYS_SECRET_ARN"], keysID) || !refersTo(env["MEDIATASKS_PROVIDER_SECRET_ARN"], providersID) {
		t.Errorf("secrets: keys %v, providers %v", env["MEDIATASKS_KEYS_SECRET_ARN"], env["MEDIATASKS_PROVIDER_SECRET_ARN"])
	}
	for _, p := range []string{"HIGH", "NORMAL", "LOW"} {
		queueID, _ := s.named(t, "AWS::SQS::Queue", "QueueName", "mediatasks-dev-tasks-"+strings.ToLower(p))
		deadID, _ := s.named(t, "AWS::SQS::Queue", "QueueName", "mediatasks-dev-tasks-"+strings.ToLower(p)+"-dlq")
		if !refersTo(env["MEDIATASKS_TASK_QUEUE_URL_"+p], queueID) || !refersTo(env["MEDIATASKS_TASK_DEAD_QUEUE_URL_"+p], deadID) {
			t.Errorf("%s queues: %v, %v", p, env["MEDIATASKS_TASK_QUEUE_URL_"+p], env["MEDIATASKS_TASK_DEAD_QUEUE_URL_"+p])
		}
	}
	// Each function logs to its own group, kept LogRetentionDays.
	for _, name := range []string{"submit", "status", "process", "webhook"} {
		s.named(t, "AWS::Logs::LogGroup", "LogGroupName", "/aws/lambda/mediatasks-dev-"+name)
	}
	for id, g := range s.ofType("AWS::Logs::LogGroup") {
		if g.Properties["RetentionInDays"] != 30.0 {
			t.Errorf("%s: RetentionInDays %v", id, g.Properties["RetentionInDays"])
		}
	}
}

func TestEventSourceMappings(t *testing.T) {
	s := sharedStack(t)
	processID, _ := s.named(t, "AWS::Lambda::Function", "FunctionName", "mediatasks-dev-process")
	webhookID, _ := s.named(t, "AWS::Lambda::Function", "FunctionName", "mediatasks-dev-webhook")
	want := map[string]struct {
		function       string
		maxConcurrency any
	}{
		"mediatasks-dev-tasks-high":   {processID, nil},
		"mediatasks-dev-tasks-normal": {processID, 20.0},
		"mediatasks-dev-tasks-low":    {processID, 5.0},
		"mediatasks-dev-webhooks":     {webhookID, nil},
	}
	mappings := s.ofType("AWS::Lambda::EventSourceMapping")
	if len(mappings) != len(want) {
		t.Errorf("event source mappings: %d, want %d", len(mappings), len(want))
	}
	for queue, w := range want {
		queueID, _ := s.named(t, "AWS::SQS::Queue", "QueueName", queue)
		found := false
		for id, m := range mappings {
			p := m.Properties
			if !refersTo(p["EventSourceArn"], queueID) {
				continue
			}
			found = true
			if !refersTo(p["FunctionName"], w.function) {
				t.Errorf("%s: %s feeds %v, want %s", id, queue, p["FunctionName"], w.function)
			}
			if !slices.Equal(strs(p["FunctionResponseTypes"]), []string{"ReportBatchItemFailures"}) {
				t.Errorf("%s: FunctionResponseTypes %v", id, p["FunctionResponseTypes"])
			}
			if p["BatchSize"] != 10.0 || p["MaximumBatchingWindowInSeconds"] != nil {
				t.Errorf("%s: BatchSize %v, batching window %v", id, p["BatchSize"], p["MaximumBatchingWindowInSeconds"])
			}
			var got any
			if sc, ok := p["ScalingConfig"].(map[string]any); ok {
				got = sc["MaximumConcurrency"]
			}
			if got != w.maxConcurrency {
				t.Errorf("%s: maximum concurrency %v, want %v", queue, got, w.maxConcurrency)
			}
		}
		if !found {
			t.Errorf("no event source mapping reads %s", queue)
		}
	}
}

func TestSweepSchedule(t *testing.T) {
	s := sharedStack(t)
	processID, _ := s.named(t, "AWS::Lambda::Function", "FunctionName", "mediatasks-dev-process")
	_, rule := s.named(t, "AWS::Events::Rule", "ScheduleExpression", "rate(1 minute)")
	targets := rule.Properties["Targets"].([]any)
	if len(targets) != 1 {
		t.Fatalf("targets: %v", targets)
	}
	target := targets[0].(map[string]any)
	// No Input: the function gets the scheduled event itself.
	if !refersTo(target["Arn"], processID) || target["Input"] != nil || target["InputPath"] != nil {
		t.Errorf("target %v, want the process function with the default event", target)
	}
	found := false
	for _, p := range s.ofType("AWS::Lambda::Permission") {
		found = found || refersTo(p.Properties["FunctionName"], processID) && p.Properties["Principal"] == "events.amazonaws.com"
	}
	if !found {
		t.Error("EventBridge may not invoke the process function")
	}
}

func TestHTTPAPI(t *testing.T) {
	s := sharedStack(t)
	for route, function := range map[string]string{
		"POST /api/v1/{proxy+}": "mediatasks-dev-submit",
		"GET /api/v1/{proxy+}":  "mediatasks-dev-status",
	} {
		_, r := s.named(t, "AWS::ApiGatewayV2::Route", "RouteKey", route)
		if r.Properties["AuthorizationType"] != "NONE" {
			t.Errorf("%s: authorization %v (the functions authenticate)", route, r.Properties["AuthorizationType"])
		}
		target, err := s.resolveTarget(r.Properties["Target"])
		if err != nil {
			t.Fatalf("%s: %v", route, err)
		}
		integration := s.resources[target]
		fnID, _ := s.named(t, "AWS::Lambda::Function", "FunctionName", function)
		p := integration.Properties
		if integration.Type != "AWS::ApiGatewayV2::Integration" || !refersTo(p["IntegrationUri"], fnID) ||
			p["IntegrationType"] != "AWS_PROXY" || p["PayloadFormatVersion"] != "2.0" {
			t.Errorf("%s: integration %v, want %s with payload 2.0", route, p, function)
		}
	}
	if n := len(s.ofType("AWS::ApiGatewayV2::Route")); n != 2 {
		t.Errorf("routes: %d, want 2", n)
	}
	hasResource(t, s, "AWS::ApiGatewayV2::Stage", map[string]any{
		"StageName":            "$default",
		"AutoDeploy":           true,
		"DefaultRouteSettings": map[string]any{"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100},
		"AccessLogSettings": map[string]any{
			"DestinationArn": assertions.Match_AnyValue(),
			"Format": assertions.Match_SerializedJson(assertions.Match_ObjectEquals(&map[string]any{
				"requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "routeKey": "$context.routeKey",
				"status": "$context.status", "latency": "$context.responseLatency",
				"integrationLatency": "$context.integrationLatency", "responseLength": "$context.responseLength",
			})),
		},
	})
	url, err := s.resolveOutput("ApiUrl")
	if err != nil || !strings.HasPrefix(url, "https://") {
		t.Errorf("output ApiUrl: %q (%v)", url, err)
	}
}

// resolveTarget is the integration a route's Target
// ("integrations/<id>") names.
func (s synthesized) resolveTarget(v any) (string, error) {
	join, ok := v.(map[string]any)["Fn::Join"].([]any)
	if !ok {
		return "", fmt.Errorf("target %v: not integrations/<id>", v)
	}
	parts := join[1].([]any)
	if len(parts) != 2 || parts[0] != "integrations/" {
		return "", fmt.Errorf("target %v: not integrations/<id>", v)
	}
	ref, _ := parts[1].(map[string]any)["Ref"].(string)
	return ref, nil
}

// resolveOutput is the output's value with the API id left as a Ref.
func (s synthesized) resolveOutput(name string) (string, error) {
	out, ok := s.outputs[name].(map[string]any)
	if !ok {
		return "", fmt.Errorf("no output %s", name)
	}
	return s.describe(out["Value"]), nil
}

func TestStateMachines(t *testing.T) {
	s := sharedStack(t)
	for name, kind := range map[string]string{
		"mediatasks-dev-task":      "EXPRESS",
		"mediatasks-dev-task-long": "STANDARD",
		"mediatasks-dev-batch":     "STANDARD",
	} {
		_, sm := s.named(t, "AWS::StepFunctions::StateMachine", "StateMachineName", name)
		p := sm.Properties
		if p["StateMachineType"] != kind {
			t.Errorf("%s: type %v, want %s", name, p["StateMachineType"], kind)
		}
		if p["TracingConfiguration"].(map[string]any)["Enabled"] != true {
			t.Errorf("%s: tracing off", name)
		}
		logging := p["LoggingConfiguration"].(map[string]any)
		if logging["Level"] != "ERROR" || logging["IncludeExecutionData"] != false {
			t.Errorf("%s: logging %v", name, logging)
		}
		groupID := logging["Destinations"].([]any)[0].(map[string]any)["CloudWatchLogsLogGroup"].(map[string]any)["LogGroupArn"]
		found := false
		for id, g := range s.ofType("AWS::Logs::LogGroup") {
			if refersTo(groupID, id) {
				found = true
				if g.Properties["LogGroupName"] != "/aws/vendedlogs/states/"+name {
					t.Errorf("%s logs to %v", name, g.Properties["LogGroupName"])
				}
			}
		}
		if !found {
			t.Errorf("%s: log group %v not in the stack", name, groupID)
		}
	}
}

func TestSecrets(t *testing.T) {
	s := sharedStack(t)
	_, keys := s.named(t, "AWS::SecretsManager::Secret", "Name", "mediatasks/dev/keys")
	seedID, seed := s.named(t, "AWS::SecretsManager::Secret", "Name", "mediatasks/dev/jwt-secret-seed")
	generated := keys.Properties["GenerateSecretString"].(map[string]any)
	if generated["GenerateStringKey"] != "cursor_key" || generated["PasswordLength"] != 64.0 || generated["ExcludePunctuation"] != true {
		t.Errorf("keys secret generates %v", generated)
	}
	// The template is {"jwt_secret":"<the seed's jwt_secret>"}, resolved
	// by CloudFormation from the seed secret.
	template := s.describe(generated["SecretStringTemplate"])
	want := `{"jwt_secret":"{{resolve:secretsmanager:<` + seedID + `>:SecretString:jwt_secret::}}"}`
	if template != want {
		t.Errorf("keys secret template %s, want %s", template, want)
	}
	seedGenerated := seed.Properties["GenerateSecretString"].(map[string]any)
	if seedGenerated["GenerateStringKey"] != "jwt_secret" || seedGenerated["SecretStringTemplate"] != "{}" ||
		seedGenerated["PasswordLength"] != 64.0 || seedGenerated["ExcludePunctuation"] != true {
		t.Errorf("seed secret generates %v", seedGenerated)
	}
	_, providers := s.named(t, "AWS::SecretsManager::Secret", "Name", "mediatasks/dev/providers")
	if providers.Properties["SecretString"] != "{}" {
		t.Errorf("providers secret starts as %v, want {}", providers.Properties["SecretString"])
	}
}

func TestTags(t *testing.T) {
	s := sharedStack(t)
	for _, cfnType := range []string{"AWS::DynamoDB::Table", "AWS::Lambda::Function", "AWS::SQS::Queue", "AWS::StepFunctions::StateMachine", "AWS::S3::Bucket"} {
		hasResource(t, s, cfnType, map[string]any{
			"Tags": assertions.Match_ArrayWith(&[]any{
				map[string]any{"Key": "app", "Value": "mediatasks"},
				map[string]any{"Key": "stage", "Value": "dev"},
			}),
		})
	}
}

func sameSet(a, b []string) bool {
	return slices.Equal(sortedCopy(a), sortedCopy(b))
}

func sortedCopy(a []string) []string {
	c := slices.Clone(a)
	slices.Sort(c)
	return c
}
