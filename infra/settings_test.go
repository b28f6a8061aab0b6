package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
)

func TestReadSettings(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		context map[string]any
		want    func(*Settings)
		err     string
	}{
		"nothing set": {
			context: map[string]any{},
			want:    func(*Settings) {},
		},
		"from cdk.json, as JSON values": {
			context: map[string]any{
				"stage": "prod", "apiThrottleRate": 200.0, "apiThrottleBurst": 400.0, "outputRetentionDays": 7.0,
				"logRetentionDays": 90.0, "alarmEmail": "ops@example.com", "taskConcurrencyHigh": 100.0,
				"taskConcurrencyNormal": 0.0, "taskConcurrencyLow": 2.0, "config": "limits:\n  batch_max: 50\n",
			},
			want: func(s *Settings) {
				s.Stage, s.APIThrottleRate, s.APIThrottleBurst, s.OutputRetentionDays = "prod", 200, 400, 7
				s.LogRetentionDays, s.AlarmEmail = 90, "ops@example.com"
				s.TaskConcurrency = Concurrency{High: 100, Normal: 0, Low: 2}
				s.Config = "limits:\n  batch_max: 50\n"
			},
		},
		"from -c key=value, as strings": {
			context: map[string]any{"stage": "staging", "apiThrottleRate": "12.5", "apiThrottleBurst": "20", "logRetentionDays": "14"},
			want: func(s *Settings) {
				s.Stage, s.APIThrottleRate, s.APIThrottleBurst, s.LogRetentionDays = "staging", 12.5, 20, 14
			},
		},
		"not a number":                 {context: map[string]any{"apiThrottleBurst": "many"}, err: `apiThrottleBurst: "many" is not a number`},
		"not a whole number":           {context: map[string]any{"outputRetentionDays": 1.5}, err: "outputRetentionDays: 1.5 is not a whole number"},
		"a stage that names nothing":   {context: map[string]any{"stage": "Prod_1"}, err: `stage "Prod_1"`},
		"a retention CloudWatch lacks": {context: map[string]any{"logRetentionDays": 31.0}, err: "logRetentionDays 31"},
		"a concurrency SQS refuses":    {context: map[string]any{"taskConcurrencyLow": 1.0}, err: "taskConcurrencyLow 1: 0 (uncapped) or 2 to 1000"},
		"no throttle":                  {context: map[string]any{"apiThrottleRate": 0.0}, err: "apiThrottleRate 0: must be above 0"},
		"not an address":               {context: map[string]any{"alarmEmail": "ops"}, err: `alarmEmail "ops"`},
		"a stage of the wrong type":    {context: map[string]any{"stage": 3.0}, err: "context stage: want a string"},
		"standard image tasks, as a string": {
			context: map[string]any{"expressImageTasks": "false"},
			want:    func(s *Settings) { s.ExpressImageTasks = false },
		},
		"standard image tasks, as JSON": {
			context: map[string]any{"expressImageTasks": false},
			want:    func(s *Settings) { s.ExpressImageTasks = false },
		},
		"express image tasks, as a string": {
			context: map[string]any{"expressImageTasks": "true"},
			want:    func(s *Settings) { s.ExpressImageTasks = true },
		},
		"provisioned capacity, the defaults": {
			context: map[string]any{"tableCapacity": "provisioned"},
			want: func(s *Settings) {
				s.Capacity = &ProvisionedCapacity{ReadMin: 5, ReadMax: 1000, WriteMin: 5, WriteMax: 1000, TargetPercent: 70}
			},
		},
		"provisioned capacity, bounds set": {
			context: map[string]any{"tableCapacity": "provisioned", "writeCapacityMin": "50", "writeCapacityMax": 2000.0, "readCapacityMax": "200", "capacityTargetPercent": 60.0},
			want: func(s *Settings) {
				s.Capacity = &ProvisionedCapacity{ReadMin: 5, ReadMax: 200, WriteMin: 50, WriteMax: 2000, TargetPercent: 60}
			},
		},
		"an unknown capacity mode":      {context: map[string]any{"tableCapacity": "reserved"}, err: `tableCapacity: want on-demand or provisioned, got "reserved"`},
		"bounds without provisioning":   {context: map[string]any{"writeCapacityMax": 100.0}, err: "writeCapacityMax: only with tableCapacity=provisioned"},
		"a maximum under the minimum":   {context: map[string]any{"tableCapacity": "provisioned", "writeCapacityMin": 10.0, "writeCapacityMax": 5.0}, err: "writeCapacityMin 10, writeCapacityMax 5"},
		"a target auto scaling refuses": {context: map[string]any{"tableCapacity": "provisioned", "capacityTargetPercent": 95.0}, err: "capacityTargetPercent 95: 20 to 90"},
		"not a boolean":                 {context: map[string]any{"expressImageTasks": "often"}, err: `expressImageTasks: want true or false, got "often"`},
		"a config the functions refuse": {context: map[string]any{"config": "queue:\n  max_receives: many\n"}, err: "config: "},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadSettings(func(key string) any { return tc.context[key] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := DefaultSettings()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("settings %+v, want %+v", got, want)
			}
		})
	}
}

// Image tasks submitted alone run on the Express machine unless the
// context says expressImageTasks=false.
func TestExpressImageTasksByDefault(t *testing.T) {
	t.Parallel()
	if !DefaultSettings().ExpressImageTasks {
		t.Fatal("the default settings run image tasks on the Standard machine")
	}
}

func TestCheckAssets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"submit", "status", "process"} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	err := checkAssets(dir)
	if err == nil || !strings.Contains(err.Error(), "function webhook") || strings.Contains(err.Error(), "function submit") {
		t.Fatalf("error %v, want one naming only the webhook function", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "webhook"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "webhook", "bootstrap"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkAssets(dir); err != nil {
		t.Fatal(err)
	}
}

// The settings reach the resources: names, throttling, retention,
// concurrency caps and the alarm subscription.
func TestSettingsShapeTheStack(t *testing.T) {
	settings := Settings{
		Stage:               "prod",
		Config:              "limits:\n  batch_max: 50\nqueue:\n  max_receives: 8\n",
		APIThrottleRate:     200,
		APIThrottleBurst:    400,
		OutputRetentionDays: 7,
		LogRetentionDays:    90,
		AlarmEmail:          "ops@example.com",
		TaskConcurrency:     Concurrency{High: 100, Normal: 0, Low: 2},
		ExpressImageTasks:   false,
		Capacity:            &ProvisionedCapacity{ReadMin: 5, ReadMax: 200, WriteMin: 20, WriteMax: 2000, TargetPercent: 70},
	}
	s, err := synthesize(t.TempDir(), settings)
	if err != nil {
		t.Fatal(err)
	}
	// Provisioned: the table and each index start at the minimum and
	// scale on utilization, reads and writes alike.
	hasResource(t, s, "AWS::DynamoDB::Table", map[string]any{
		"TableName":             "mediatasks-prod",
		"ProvisionedThroughput": map[string]any{"ReadCapacityUnits": 5, "WriteCapacityUnits": 20},
	})
	targets := s.ofType("AWS::ApplicationAutoScaling::ScalableTarget")
	dimensions := map[string]int{}
	for id, target := range targets {
		dim, _ := target.Properties["ScalableDimension"].(string)
		dimensions[dim]++
		want := map[string]float64{"dynamodb:table:WriteCapacityUnits": 2000, "dynamodb:index:WriteCapacityUnits": 2000,
			"dynamodb:table:ReadCapacityUnits": 200, "dynamodb:index:ReadCapacityUnits": 200}[dim]
		if target.Properties["MaxCapacity"] != want {
			t.Errorf("%s (%s): MaxCapacity %v, want %v", id, dim, target.Properties["MaxCapacity"], want)
		}
	}
	if want := map[string]int{"dynamodb:table:ReadCapacityUnits": 1, "dynamodb:table:WriteCapacityUnits": 1,
		"dynamodb:index:ReadCapacityUnits": 3, "dynamodb:index:WriteCapacityUnits": 3}; !reflect.DeepEqual(dimensions, want) {
		t.Errorf("scalable targets %v, want %v", dimensions, want)
	}
	if n := len(s.ofType("AWS::ApplicationAutoScaling::ScalingPolicy")); n != 8 {
		t.Errorf("%d scaling policies, want 8 (one per target)", n)
	}
	s.named(t, "AWS::DynamoDB::Table", "TableName", "mediatasks-prod")
	s.named(t, "AWS::StepFunctions::StateMachine", "StateMachineName", "mediatasks-prod-task-long")
	s.named(t, "AWS::SecretsManager::Secret", "Name", "mediatasks/prod/keys")
	s.named(t, "AWS::CloudWatch::Dashboard", "DashboardName", "mediatasks-prod")
	_, fn := s.named(t, "AWS::Lambda::Function", "FunctionName", "mediatasks-prod-process")
	env := fn.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env["MEDIATASKS_CONFIG"] != settings.Config || env["MEDIATASKS_METRICS_NAMESPACE"] != "MediaTasks/prod" {
		t.Errorf("environment: config %q, namespace %v", env["MEDIATASKS_CONFIG"], env["MEDIATASKS_METRICS_NAMESPACE"])
	}
	// Told otherwise, image tasks run on the Standard machine: the
	// functions are given no Express machine, and no Express run can be
	// lost.
	if express, ok := env["MEDIATASKS_EXPRESS_TASK_STATE_MACHINE_ARN"]; ok {
		t.Errorf("express task machine %v with expressImageTasks false", express)
	}
	for _, a := range s.ofType("AWS::CloudWatch::Alarm") {
		if a.Properties["MetricName"] == "ExpressRunsLost" {
			t.Errorf("alarm %v on lost Express runs with expressImageTasks false", a.Properties["AlarmName"])
		}
	}
	// The last start attempt (queue.max_receives) comes before the dead-letter queue.
	for id, q := range s.ofType("AWS::SQS::Queue") {
		redrive, _ := q.Properties["RedrivePolicy"].(map[string]any)
		name, _ := q.Properties["QueueName"].(string)
		if redrive != nil && strings.Contains(name, "-tasks-") && redrive["maxReceiveCount"] != 8.0 {
			t.Errorf("%s: maxReceiveCount %v, want the config's 8", id, redrive["maxReceiveCount"])
		}
	}
	hasResource(t, s, "AWS::ApiGatewayV2::Stage", map[string]any{
		"DefaultRouteSettings": map[string]any{"ThrottlingRateLimit": 200, "ThrottlingBurstLimit": 400},
	})
	hasResource(t, s, "AWS::SNS::Subscription", map[string]any{"Protocol": "email", "Endpoint": "ops@example.com"})
	for id, g := range s.ofType("AWS::Logs::LogGroup") {
		if g.Properties["RetentionInDays"] != 90.0 {
			t.Errorf("%s: RetentionInDays %v", id, g.Properties["RetentionInDays"])
		}
	}
	hasResource(t, s, "AWS::S3::Bucket", map[string]any{
		"CorsConfiguration": assertions.Match_AnyValue(),
		"LifecycleConfiguration": map[string]any{"Rules": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{"ExpirationInDays": 7}),
		})},
	})
	for queue, want := range map[string]any{"high": 100.0, "normal": nil, "low": 2.0} {
		queueID, _ := s.named(t, "AWS::SQS::Queue", "QueueName", "mediatasks-prod-tasks-"+queue)
		for _, m := range s.ofType("AWS::Lambda::EventSourceMapping") {
			if !refersTo(m.Properties["EventSourceArn"], queueID) {
				continue
			}
			var got any
			if sc, ok := m.Properties["ScalingConfig"].(map[string]any); ok {
				got = sc["MaximumConcurrency"]
			}
			if got != want {
				t.Errorf("%s: maximum concurrency %v, want %v", queue, got, want)
			}
		}
	}
}
