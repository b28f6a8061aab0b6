package dynamostore

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/videoai/mediatasks/shared/task"
)

// itemSize is an item's size by DynamoDB's rule: each attribute's name
// plus its value (strings and binaries their bytes, numbers about one
// byte per two digits plus one).
func itemSize(it map[string]types.AttributeValue) int {
	n := 0
	for name, v := range it {
		n += len(name)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			n += len(v.Value)
		case *types.AttributeValueMemberB:
			n += len(v.Value)
		case *types.AttributeValueMemberN:
			n += (len(v.Value)+1)/2 + 1
		default:
			n += 8
		}
	}
	return n
}

// A completed image task with a webhook, metadata, an optimized prompt, a
// cost and an attempt, the event that carries it, and the idempotency
// record of its submit, each fit one write unit (1 KB): what a submit and
// a status change cost depends on it.
func TestATaskItsEventAndItsIdempotencyRecordFitOneWriteUnit(t *testing.T) {
	at := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
	done := at.Add(3 * time.Second)
	tk := &task.Task{
		ID: "tsk_01JEXAMPLE0000000000000001", UserID: "usr_01JEXAMPLE00000000000001", Type: task.TypeImageGeneration,
		Status: task.StatusCompleted, Priority: task.PriorityNormal, Progress: 1, Provider: "openai", Attempts: 1,
		Input:      json.RawMessage(`{"prompt":"a lighthouse at dusk, oil painting","size":"1024x1024","n":1}`),
		WebhookURL: "https://hooks.example.com/mediatasks/events", WebhookEvents: []task.EventType{task.EventTaskCompleted, task.EventTaskFailed},
		Metadata: map[string]string{"client": "web", "order": "A-1234"},
		Output: &task.Output{Files: []task.File{{Key: "outputs/usr_01JEXAMPLE00000000000001/tsk_01JEXAMPLE0000000000000001/0.png",
			ContentType: "image/png", SizeBytes: 1_482_311}}},
		AttemptHistory:  []task.Attempt{{Provider: "openai", StartedAt: at.Add(time.Second), Outcome: "started"}},
		OptimizedPrompt: &task.OptimizedPrompt{Mode: "auto", Original: "a lighthouse at dusk, oil painting", Final: "A lighthouse at dusk, oil painting, warm light, detailed brushwork"},
		Cost:            &task.Cost{USD: 0.04, PriceVersion: "openai-2026-12"},
		CreatedAt:       at, UpdatedAt: done, StartedAt: &at, CompletedAt: &done, Version: 4,
	}
	it, err := encodeTask(tk)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := encodeEvent(task.NewTaskEvent(tk, task.EventTaskCompleted, done))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := task.EncodeJSON(tk)
	// The submit's answer kept for an Idempotency-Key: the queued task.
	queued := *tk
	queued.Status, queued.Output, queued.Cost, queued.StartedAt, queued.CompletedAt = task.StatusQueued, nil, nil, nil, nil
	answer, _ := task.EncodeJSON(&queued)
	idem := encodeIdempotency(&task.IdempotencyRecord{UserID: tk.UserID, Key: "order-A-1234-image-1",
		RequestHash: "9f2c4b8e1a7d3f6b0c5e8a2d4f7b1c3e9a6d0f2b5c8e1a4d7f0b3c6e9a2d5f8b", StatusCode: 202,
		Headers: map[string]string{"Content-Type": "application/json", "Location": "/api/v1/media/tasks/" + tk.ID},
		Body:    answer, CreatedAt: at, ExpiresAt: at.Add(24 * time.Hour)})
	t.Logf("task JSON %d bytes; task item %d bytes, event item %d bytes, idempotency record %d bytes", len(plain), itemSize(it), itemSize(ev), itemSize(idem))
	for name, size := range map[string]int{"task": itemSize(it), "event": itemSize(ev), "idempotency record": itemSize(idem)} {
		if size > 1024 {
			t.Errorf("%s item is %s bytes, over one write unit", name, strconv.Itoa(size))
		}
	}
	back, err := decodeTask(it)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := task.EncodeJSON(back)
	if string(a) != string(plain) {
		t.Errorf("task read back as\n%s\nwant\n%s", a, plain)
	}
}
