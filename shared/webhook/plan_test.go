package webhook_test

import (
	"maps"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/webhook"
)

var planAt = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

const hookURL = "https://hooks.example.com/u"

// event is user u's event seq of subject, off after planAt, to hookURL.
func event(subject string, seq int64, typ task.EventType, off time.Duration) task.Event {
	return task.Event{ID: task.EventID(subject, seq), SubjectID: subject, UserID: "u", Seq: seq, Type: typ,
		CreatedAt: planAt.Add(off), Data: []byte(`{"id":"` + subject + `"}`), WebhookURL: hookURL}
}

func with(e task.Event, change func(e *task.Event)) task.Event {
	change(&e)
	return e
}

func pending(e task.Event) webhook.Delivery {
	return webhook.Delivery{ID: webhook.DeliveryID(e.ID), EventID: e.ID, UserID: e.UserID, SubjectID: e.SubjectID,
		EventType: e.Type, URL: e.WebhookURL, Event: e, Status: webhook.StatusPending,
		NextAttemptAt: e.CreatedAt, CreatedAt: e.CreatedAt, UpdatedAt: e.CreatedAt}
}

func skipped(e task.Event) webhook.Delivery {
	d := pending(e)
	d.Status, d.AttemptCount = webhook.StatusSkipped, 1
	d.LastAttempt = &webhook.Attempt{At: e.CreatedAt, Outcome: webhook.OutcomeSkipped, Error: "endpoint disabled: it answered 410 Gone"}
	return d
}

func TestPlan(t *testing.T) {
	t.Parallel()
	now := planAt.Add(time.Hour)
	progress := func(subject string, seq int64, off time.Duration) task.Event {
		return event(subject, seq, task.EventTaskProgress, off)
	}
	completed := event("tsk_1", 9, task.EventTaskCompleted, 0)
	unsubscribed := with(completed, func(e *task.Event) { e.WebhookURL = "" })
	undated := with(completed, func(e *task.Event) { e.CreatedAt = time.Time{} })
	disabled := webhook.Outbox{Disabled: map[webhook.Endpoint]bool{{UserID: "u", URL: hookURL}: true}}
	tests := map[string]struct {
		events   []task.Event
		known    webhook.Outbox
		want     []webhook.Delivery
		progress map[string]time.Time
	}{
		"nothing":                   {},
		"no webhook URL":            {events: []task.Event{unsubscribed}},
		"pending, due at the event": {events: []task.Event{completed}, want: []webhook.Delivery{pending(completed)}},
		"no time: dated now": {events: []task.Event{undated},
			want: []webhook.Delivery{pending(with(undated, func(e *task.Event) { e.CreatedAt = now }))}},
		"an event twice: one delivery": {events: []task.Event{completed, completed}, want: []webhook.Delivery{pending(completed)}},
		"in event order": {
			events: []task.Event{completed, unsubscribed, event("bat_1", 3, task.EventBatchCompleted, 0)},
			want:   []webhook.Delivery{pending(completed), pending(event("bat_1", 3, task.EventBatchCompleted, 0))},
		},

		"disabled endpoint: skipped, with its attempt": {events: []task.Event{completed}, known: disabled,
			want: []webhook.Delivery{skipped(completed)}},
		"another user's endpoint disabled": {
			events: []task.Event{completed},
			known:  webhook.Outbox{Disabled: map[webhook.Endpoint]bool{{UserID: "v", URL: hookURL}: true}},
			want:   []webhook.Delivery{pending(completed)},
		},
		"another URL of the user disabled": {
			events: []task.Event{completed},
			known:  webhook.Outbox{Disabled: map[webhook.Endpoint]bool{{UserID: "u", URL: hookURL + "/old"}: true}},
			want:   []webhook.Delivery{pending(completed)},
		},

		"first progress": {events: []task.Event{progress("tsk_1", 3, 0)},
			want: []webhook.Delivery{pending(progress("tsk_1", 3, 0))}, progress: map[string]time.Time{"tsk_1": planAt}},
		"progress within the interval of the last": {
			events: []task.Event{progress("tsk_1", 3, 999*time.Millisecond)},
			known:  webhook.Outbox{LastProgress: map[string]time.Time{"tsk_1": planAt}},
		},
		"progress an interval after the last": {
			events:   []task.Event{progress("tsk_1", 3, time.Second)},
			known:    webhook.Outbox{LastProgress: map[string]time.Time{"tsk_1": planAt}},
			want:     []webhook.Delivery{pending(progress("tsk_1", 3, time.Second))},
			progress: map[string]time.Time{"tsk_1": planAt.Add(time.Second)},
		},
		"progress older than the last": {
			events: []task.Event{progress("tsk_1", 3, -time.Minute)},
			known:  webhook.Outbox{LastProgress: map[string]time.Time{"tsk_1": planAt}},
		},
		"progress throttled within one write": {
			events:   []task.Event{progress("tsk_1", 3, 0), progress("tsk_1", 4, 500*time.Millisecond), progress("tsk_1", 5, time.Second)},
			want:     []webhook.Delivery{pending(progress("tsk_1", 3, 0)), pending(progress("tsk_1", 5, time.Second))},
			progress: map[string]time.Time{"tsk_1": planAt.Add(time.Second)},
		},
		"progress throttled per subject": {
			events:   []task.Event{progress("tsk_1", 3, 0), progress("tsk_2", 3, 0)},
			known:    webhook.Outbox{LastProgress: map[string]time.Time{"tsk_1": planAt}},
			want:     []webhook.Delivery{pending(progress("tsk_2", 3, 0))},
			progress: map[string]time.Time{"tsk_2": planAt},
		},
		"a skipped progress delivery counts for the throttle": {
			events:   []task.Event{progress("tsk_1", 3, 0), progress("tsk_1", 4, 500*time.Millisecond)},
			known:    disabled,
			want:     []webhook.Delivery{skipped(progress("tsk_1", 3, 0))},
			progress: map[string]time.Time{"tsk_1": planAt},
		},
		"other events are not throttled": {
			events: []task.Event{progress("tsk_1", 3, 0), event("tsk_1", 4, task.EventTaskCompleted, time.Millisecond)},
			known:  webhook.Outbox{LastProgress: map[string]time.Time{"tsk_1": planAt.Add(-time.Millisecond)}},
			want:   []webhook.Delivery{pending(event("tsk_1", 4, task.EventTaskCompleted, time.Millisecond))},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lastBefore := maps.Clone(tt.known.LastProgress)
			got := webhook.Plan(tt.events, tt.known, now)
			if !reflect.DeepEqual(got.Deliveries, tt.want) {
				t.Errorf("deliveries:\n got %+v\nwant %+v", got.Deliveries, tt.want)
			}
			if !maps.Equal(got.Progress, tt.progress) {
				t.Errorf("progress = %v, want %v", got.Progress, tt.progress)
			}
			if !maps.Equal(tt.known.LastProgress, lastBefore) {
				t.Errorf("known.LastProgress changed to %v, was %v", tt.known.LastProgress, lastBefore)
			}
		})
	}
}

func TestPlanNeeds(t *testing.T) {
	t.Parallel()
	other := func(e task.Event) task.Event {
		return with(e, func(e *task.Event) { e.UserID = "v" })
	}
	elsewhere := func(e task.Event) task.Event {
		return with(e, func(e *task.Event) { e.WebhookURL = hookURL + "/b" })
	}
	u := webhook.Endpoint{UserID: "u", URL: hookURL}
	tests := map[string]struct {
		events    []task.Event
		endpoints []webhook.Endpoint
		subjects  []string
	}{
		"nothing": {},
		"no webhook URL": {
			events: []task.Event{with(event("tsk_1", 3, task.EventTaskProgress, 0), func(e *task.Event) { e.WebhookURL = "" })},
		},
		"each endpoint once": {
			events: []task.Event{event("tsk_1", 2, task.EventTaskStarted, 0), event("tsk_2", 2, task.EventTaskStarted, 0),
				other(event("tsk_3", 2, task.EventTaskStarted, 0)), elsewhere(event("tsk_4", 2, task.EventTaskStarted, 0))},
			endpoints: []webhook.Endpoint{u, {UserID: "v", URL: hookURL}, {UserID: "u", URL: hookURL + "/b"}},
		},
		"subjects of progress events, each once": {
			events: []task.Event{event("tsk_1", 3, task.EventTaskProgress, 0), event("tsk_2", 3, task.EventTaskCompleted, 0),
				event("tsk_1", 4, task.EventTaskProgress, 0), event("tsk_3", 3, task.EventTaskProgress, 0)},
			endpoints: []webhook.Endpoint{u},
			subjects:  []string{"tsk_1", "tsk_3"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			endpoints, subjects := webhook.PlanNeeds(tt.events)
			if !slices.Equal(endpoints, tt.endpoints) || !slices.Equal(subjects, tt.subjects) {
				t.Errorf("PlanNeeds = %v, %v; want %v, %v", endpoints, subjects, tt.endpoints, tt.subjects)
			}
		})
	}
}

// Plan looks up no more than PlanNeeds lists: an Outbox filled from it
// plans as one that knows everything.
func TestPlanReadsWhatPlanNeedsLists(t *testing.T) {
	t.Parallel()
	var events []task.Event
	for i := range 6 {
		events = append(events, event("tsk_"+strconv.Itoa(i%2), int64(3+i), task.EventTaskProgress, time.Duration(i)*400*time.Millisecond))
	}
	everything := webhook.Outbox{
		Disabled:     map[webhook.Endpoint]bool{{UserID: "u", URL: hookURL}: true, {UserID: "x", URL: hookURL}: true},
		LastProgress: map[string]time.Time{"tsk_1": planAt, "tsk_9": planAt},
	}
	endpoints, subjects := webhook.PlanNeeds(events)
	needed := webhook.Outbox{Disabled: map[webhook.Endpoint]bool{}, LastProgress: map[string]time.Time{}}
	for _, ep := range endpoints {
		needed.Disabled[ep] = everything.Disabled[ep]
	}
	for _, s := range subjects {
		if at, ok := everything.LastProgress[s]; ok {
			needed.LastProgress[s] = at
		}
	}
	got, want := webhook.Plan(events, needed, planAt), webhook.Plan(events, everything, planAt)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("from what PlanNeeds lists: %+v\nfrom everything: %+v", got, want)
	}
}
