package workflow

import (
	"encoding/json"
	"fmt"
)

// awaitCallbackState is the task workflow's wait for a provider's callback.
const awaitCallbackState = "AwaitCallback"

// ExpressTaskDefinition is TaskDefinition for an Express state machine,
// which cannot wait for a task token: a job that would wait for its
// callback is polled instead (its step keeps poll_after_seconds), so the
// one definition serves both kinds.
var ExpressTaskDefinition = withoutCallbackWait(TaskDefinition)

func withoutCallbackWait(def []byte) []byte {
	var m struct {
		States map[string]json.RawMessage
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(def, &doc); err != nil {
		panic(fmt.Sprintf("workflow: the task definition is not JSON: %v", err)) // embedded: the tests catch it
	}
	if err := json.Unmarshal(doc["States"], &m.States); err != nil {
		panic(fmt.Sprintf("workflow: the task definition's States: %v", err))
	}
	delete(m.States, awaitCallbackState)
	var route struct {
		Type    string           `json:"Type"`
		Choices []map[string]any `json:"Choices"`
		Default string           `json:"Default"`
	}
	if err := json.Unmarshal(m.States["Route"], &route); err != nil {
		panic(fmt.Sprintf("workflow: the task definition's Route: %v", err))
	}
	for _, c := range route.Choices {
		if c["Next"] == awaitCallbackState {
			c["Next"] = "WaitForJob"
		}
	}
	m.States["Route"] = mustJSON(route)
	doc["States"] = mustJSON(m.States)
	doc["Comment"] = mustJSON("The task workflow for an Express state machine: as task.asl.json, with a job whose provider calls back polled instead (Express cannot wait for a task token).")
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err)
	}
	return out
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
