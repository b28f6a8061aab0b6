package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestAlarms(t *testing.T) {
	s := sharedStack(t)
	topicID, topic := s.named(t, "AWS::SNS::Topic", "TopicName", "mediatasks-dev-alarms")
	if topic.Properties["KmsMasterKeyId"] == nil {
		t.Error("the alarm topic is not encrypted")
	}
	type alarm struct {
		namespace, metric, statistic, operator string
		threshold                              float64
	}
	atLeastOne := "GreaterThanOrEqualToThreshold"
	want := map[string]alarm{
		"webhooks-exhausted": {"MediaTasks/dev", "WebhookAttempts", "Sum", atLeastOne, 1},
		"express-runs-lost":  {"MediaTasks/dev", "ExpressRunsLost", "Sum", atLeastOne, 1},
	}
	for _, q := range []string{"tasks-high", "tasks-normal", "tasks-low", "webhooks"} {
		want[q+"-dlq-messages"] = alarm{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", atLeastOne, 1}
		if q == "webhooks" {
			want[q+"-backlog"] = alarm{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Minimum", atLeastOne, 1}
			continue
		}
		want[q+"-oldest-message"] = alarm{"AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum", "GreaterThanThreshold", 300}
	}
	for _, fn := range []string{"submit", "status", "process", "webhook"} {
		if fn != "process" { // its errors are a share: below
			want[fn+"-errors"] = alarm{"AWS/Lambda", "Errors", "Sum", atLeastOne, 1}
		}
		want[fn+"-throttles"] = alarm{"AWS/Lambda", "Throttles", "Sum", atLeastOne, 1}
	}
	for _, sm := range []string{"task", "task-long", "batch"} {
		want[sm+"-executions-failed"] = alarm{"AWS/States", "ExecutionsFailed", "Sum", atLeastOne, 1}
		want[sm+"-executions-timed-out"] = alarm{"AWS/States", "ExecutionsTimedOut", "Sum", atLeastOne, 1}
	}

	_, rate := s.named(t, "AWS::CloudWatch::Alarm", "AlarmName", "mediatasks-dev-process-error-rate")
	if expr := s.describe(rate.Properties["Metrics"]); !strings.Contains(expr, "100 * errors / MAX([invocations, 1])") ||
		num(rate.Properties["Threshold"]) != 10 || num(rate.Properties["EvaluationPeriods"]) != 3 {
		t.Errorf("process-error-rate: %s, threshold %v", expr, rate.Properties["Threshold"])
	}
	alarms := s.ofType("AWS::CloudWatch::Alarm")
	if len(alarms) != len(want)+1 {
		t.Errorf("alarms: %d, want %d", len(alarms), len(want))
	}
	for suffix, w := range want {
		_, a := s.named(t, "AWS::CloudWatch::Alarm", "AlarmName", "mediatasks-dev-"+suffix)
		p := a.Properties
		got := alarm{str(p["Namespace"]), str(p["MetricName"]), str(p["Statistic"]), str(p["ComparisonOperator"]), num(p["Threshold"])}
		if got != w {
			t.Errorf("%s: %+v, want %+v", suffix, got, w)
		}
		if p["TreatMissingData"] != "notBreaching" {
			t.Errorf("%s: TreatMissingData %v", suffix, p["TreatMissingData"])
		}
		actions, _ := p["AlarmActions"].([]any)
		if len(actions) != 1 || !refersTo(actions[0], topicID) {
			t.Errorf("%s: actions %v, want the alarm topic", suffix, actions)
		}
	}
	_, backlog := s.named(t, "AWS::CloudWatch::Alarm", "AlarmName", "mediatasks-dev-webhooks-backlog")
	if num(backlog.Properties["EvaluationPeriods"]) != 3 {
		t.Errorf("webhooks-backlog fires after %v periods, want 3", backlog.Properties["EvaluationPeriods"])
	}
	_, exhausted := s.named(t, "AWS::CloudWatch::Alarm", "AlarmName", "mediatasks-dev-webhooks-exhausted")
	dims, _ := json.Marshal(exhausted.Properties["Dimensions"])
	if string(dims) != `[{"Name":"Outcome","Value":"exhausted"}]` {
		t.Errorf("webhooks-exhausted dimensions %s", dims)
	}
	if subs := s.ofType("AWS::SNS::Subscription"); len(subs) != 0 {
		t.Errorf("subscriptions without alarmEmail: %v", subs)
	}
}

func TestDashboard(t *testing.T) {
	s := sharedStack(t)
	_, d := s.named(t, "AWS::CloudWatch::Dashboard", "DashboardName", "mediatasks-dev")
	body := s.describe(d.Properties["DashboardBody"])
	var doc struct {
		Widgets []struct {
			Properties struct {
				Title   string  `json:"title"`
				Metrics [][]any `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("dashboard body: %v\n%s", err, body)
	}
	titles := map[string]string{}
	for _, w := range doc.Widgets {
		m, _ := json.Marshal(w.Properties.Metrics)
		titles[w.Properties.Title] = string(m)
	}
	for title, wants := range map[string][]string{
		"API requests":                 {`"AWS/ApiGateway","Count","ApiId"`},
		"API errors":                   {`"AWS/ApiGateway","4xx","ApiId"`, `"AWS/ApiGateway","5xx","ApiId"`},
		"API latency (ms)":             {`"AWS/ApiGateway","Latency","ApiId"`, `"IntegrationLatency"`},
		"Queues: messages waiting":     {`"ApproximateNumberOfMessagesVisible"`, `"label":"tasks-high"`, `"label":"webhooks"`},
		"Queues: oldest message (s)":   {`"ApproximateAgeOfOldestMessage"`},
		"Dead-letter queues: messages": {`"label":"tasks-low-dlq"`, `"label":"webhooks-dlq"`},
		"Lambda invocations":           {`"AWS/Lambda","Invocations"`},
		"Lambda errors":                {`"AWS/Lambda","Errors"`},
		"Lambda throttles":             {`"AWS/Lambda","Throttles"`},
		"Lambda duration (ms)":         {`"AWS/Lambda","Duration"`},
		"Executions started":           {`"AWS/States","ExecutionsStarted"`},
		"Executions succeeded":         {`"AWS/States","ExecutionsSucceeded"`},
		"Executions failed":            {`"AWS/States","ExecutionsFailed"`},
		"Executions timed out":         {`"AWS/States","ExecutionsTimedOut"`},
		"Tasks completed, by type": {
			`SEARCH('{\"MediaTasks/dev\",TaskType,Status} MetricName=\"TaskTransitions\" Status=\"completed\"', 'Sum', 300)`,
		},
		"Tasks failed, by type":                         {`Status=\"failed\"`},
		"Tasks canceled, by type":                       {`Status=\"canceled\"`},
		"Provider calls":                                {`{\"MediaTasks/dev\",Provider,Operation} MetricName=\"ProviderCalls\"`},
		"Provider errors":                               {`{\"MediaTasks/dev\",Provider,Kind} MetricName=\"ProviderErrors\"`},
		"Provider latency (ms), p50 and p95":            {`MetricName=\"ProviderLatency\"', 'p50'`, `MetricName=\"ProviderLatency\"', 'p95'`},
		"Webhook attempts, by outcome":                  {`{\"MediaTasks/dev\",Outcome} MetricName=\"WebhookAttempts\"`},
		"Webhook latency (ms)":                          {`"MediaTasks/dev","WebhookLatency"`, `"stat":"p95"`},
		"Express runs lost (tasks failed by the sweep)": {`"MediaTasks/dev","ExpressRunsLost"`},
	} {
		metrics, ok := titles[title]
		if !ok {
			t.Errorf("no widget %q (have %v)", title, keys(titles))
			continue
		}
		for _, w := range wants {
			if !strings.Contains(metrics, w) {
				t.Errorf("widget %q: no %s in %s", title, w, metrics)
			}
		}
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
