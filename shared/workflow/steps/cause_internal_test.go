package steps

import (
	"encoding/json"
	"testing"
)

// The cause of a step's error reads the same from the local engine and
// from Step Functions, which wraps a Lambda function's error answer.
func TestCauseOfReadsLocalAndLambdaErrors(t *testing.T) {
	own := `{"provider":"sim-a","kind":"transient","message":"upstream 503"}`
	lambda, _ := json.Marshal(map[string]any{"errorMessage": own, "errorType": "Provider.Transient", "stackTrace": []any{}})
	tests := map[string]string{
		"local engine":   own,
		"step functions": string(lambda),
	}
	for name, cause := range tests {
		raw, _ := json.Marshal(map[string]string{"Error": "Provider.Transient", "Cause": cause})
		c := causeOf(raw)
		if c.Provider != "sim-a" || c.Kind != "transient" || c.Message != "upstream 503" {
			t.Errorf("%s: %+v", name, c)
		}
	}
	raw, _ := json.Marshal(map[string]string{"Error": "States.Timeout", "Cause": "the state timed out"})
	if c := causeOf(raw); c.Message != "the state timed out" || c.Kind != "States.Timeout" {
		t.Errorf("plain cause: %+v", c)
	}
}
