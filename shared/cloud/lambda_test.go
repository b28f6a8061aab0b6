package cloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/videoai/mediatasks/shared/api"
	"github.com/videoai/mediatasks/shared/cloud"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow"
)

// secretsServer answers Secrets Manager's GetSecretValue (JSON 1.1) with
// the secrets it holds, by id. No Secrets Manager emulator runs here;
// the protocol's one call is small enough to answer.
func secretsServer(t *testing.T, secrets map[string]string) string {
	t.Helper()
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ SecretId string }
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || json.Unmarshal(body, &in) != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"InvalidRequestException","message":"unexpected request"}`)
			return
		}
		mu.Lock()
		value, ok := secrets[in.SecretId]
		mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": in.SecretId, "SecretString": value, "VersionId": "v1"})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

const (
	keysARN      = "arn:aws:secretsmanager:us-east-1:000000000000:secret:mediatasks/test/keys-AbCdEf"
	providersARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:mediatasks/test/providers-AbCdEf"
)

// The keys and the providers' settings come from Secrets Manager when the
// environment names the secrets: a provider's secret settings reach it,
// and a secret that is wrong stops the start, naming it.
func TestSecretsGiveKeysAndProviderSettings(t *testing.T) {
	cloudEnv(t)
	const cursorKey = "a cursor key from the secret, 32 bytes or more"
	t.Setenv(cloud.EnvCursorKey, "")
	t.Setenv(cloud.EnvKeysSecret, keysARN)
	t.Setenv(cloud.EnvProviderSecret, providersARN)
	t.Setenv(cloud.EnvConfig, "providers:\n  - name: sim-a\n    type: sim\n    task_types: [image_generation]\n    options:\n      latency_ms: 1\n")
	secrets := map[string]string{
		keysARN:      `{"cursor_key":"` + cursorKey + `","jwt_secret":"a JWT secret from the secret, 32 bytes or more"}`,
		providersARN: `{"sim-a":{"fail_rate":1,"fail_with":"permanent"}}`,
	}
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", secretsServer(t, secrets))
	ctx := context.Background()

	p, err := cloud.FromEnv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Env.CursorKey) != cursorKey || len(p.Env.JWTSecret) == 0 {
		t.Fatalf("keys not read from the secret: %q %q", p.Env.CursorKey, p.Env.JWTSecret)
	}
	key := apiKey(t, p, "usr_secrets")
	rec := call(t, p.API, "POST", api.Prefix+"/images/generate", key, map[string]any{"prompt": "a lighthouse"})
	var tk task.Task
	if err := json.Unmarshal(rec.Body.Bytes(), &tk); err != nil || rec.Code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", rec.Code, rec.Body)
	}
	in, _ := json.Marshal(map[string]any{"action": "start", "task_id": tk.ID, "tried": []string{}})
	_, err = p.ProcessFunction()(ctx, in)
	var lambdaErr messages.InvokeResponse_Error
	if !errors.As(err, &lambdaErr) || lambdaErr.Type != "Provider.Permanent" {
		t.Fatalf("start with the secret's fail_with: %v, want a Provider.Permanent error", err)
	}

	// The LLM's key comes from the keys secret: without it, the platform
	// cannot start with an LLM that needs one.
	t.Setenv(cloud.EnvConfig, "providers:\n  - name: sim-a\n    type: sim\n    task_types: [image_generation]\n"+
		"prompt:\n  llm: {type: anthropic, model: claude, api_key_env: MT_TEST_LLM_KEY}\n")
	if _, err := cloud.FromEnv(ctx); err == nil || !strings.Contains(err.Error(), "MT_TEST_LLM_KEY") {
		t.Errorf("an LLM without its key: %v, want an error naming the variable", err)
	}
	secrets[keysARN] = `{"cursor_key":"` + cursorKey + `","llm_api_key":"sk-from-the-secret"}`
	if _, err := cloud.FromEnv(ctx); err != nil {
		t.Errorf("the LLM's key from the secret: %v", err)
	}
	t.Setenv(cloud.EnvConfig, "providers:\n  - name: sim-a\n    type: sim\n    task_types: [image_generation]\n")

	for name, tc := range map[string]struct{ keys, providers, want string }{
		"short cursor key": {`{"cursor_key":"short"}`, `{}`, "cursor_key is 5 bytes"},
		"no cursor key":    {`{"jwt_secret":""}`, `{}`, "no cursor_key"},
		"unknown provider": {secrets[keysARN], `{"sim-b":{"fail_with":"permanent"}}`, `"sim-b", which is no configured provider`},
		"not JSON":         {secrets[keysARN], `sim-a=1`, "not the JSON object expected"},
	} {
		secrets[keysARN], secrets[providersARN] = tc.keys, tc.providers
		if _, err := cloud.FromEnv(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}

// A step action through the process function answers as the local
// engine's resource does, names its errors for the definitions' Retry
// and Catch, and publishes the metrics it moved as EMF lines.
func TestProcessFunctionStepsAndMetrics(t *testing.T) {
	cloudEnv(t)
	t.Setenv(cloud.EnvMetricsNamespace, "MediaTasks/test")
	ctx := context.Background()
	env, err := cloud.ReadEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	p, err := cloud.New(ctx, env, cloud.Options{MetricsOut: &metrics})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.App.Limits().PreferWaitMax; got != cloud.MaxPreferWait {
		t.Errorf("Prefer: wait up to %s, want at most %s (API Gateway's 30 s)", got, cloud.MaxPreferWait)
	}
	key := apiKey(t, p, "usr_process")
	rec := call(t, p.API, "POST", api.Prefix+"/images/generate", key, map[string]any{"prompt": "a lighthouse"})
	var tk task.Task
	if err := json.Unmarshal(rec.Body.Bytes(), &tk); err != nil || rec.Code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", rec.Code, rec.Body)
	}
	process := p.ProcessFunction()
	in, _ := json.Marshal(map[string]any{"action": "start", "task_id": tk.ID, "tried": []string{}})
	out, err := process(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	var step workflow.Step
	if b, _ := json.Marshal(out); json.Unmarshal(b, &step) != nil || step.Provider == "" || (step.State != "done" && step.State != "pending") {
		t.Fatalf("start answered %s", out)
	}
	published := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(metrics.String()), "\n") {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		for _, name := range []string{"ProviderCalls", "ProviderLatency", "TaskTransitions"} {
			if _, ok := doc[name]; ok {
				published[name] = doc
			}
		}
	}
	if d := published["ProviderCalls"]; d == nil || d["Provider"] != step.Provider || d["Operation"] != "start" {
		t.Errorf("provider call published as %v", d)
	}
	if d := published["TaskTransitions"]; d == nil || d["TaskType"] != string(task.TypeImageGeneration) || d["Status"] != "running" {
		t.Errorf("transition published as %v", d)
	}
	if published["ProviderLatency"] == nil {
		t.Errorf("no provider latency published: %s", metrics.String())
	}

	_, err = process(ctx, json.RawMessage(`{"action":"nope"}`))
	var lambdaErr messages.InvokeResponse_Error
	if !errors.As(err, &lambdaErr) || lambdaErr.Type != workflow.ErrNameBadInput || !strings.Contains(lambdaErr.Message, "nope") {
		t.Fatalf("unknown action: %v, want a %s error", err, workflow.ErrNameBadInput)
	}
	if _, err := process(ctx, json.RawMessage(`{"something":"else"}`)); err == nil {
		t.Fatal("an event of no known kind was taken")
	}
	sweep := json.RawMessage(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{},"time":"` + time.Now().UTC().Format(time.RFC3339) + `"}`)
	if _, err := process(ctx, sweep); err != nil {
		t.Fatalf("scheduled sweep: %v", err)
	}
}
