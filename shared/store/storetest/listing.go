package storetest

import (
	"cmp"
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/task"
)

// newestFirst orders tasks as every listing must: CreatedAt descending,
// then id descending.
func newestFirst(tasks []*task.Task) []string {
	sorted := slices.Clone(tasks)
	slices.SortFunc(sorted, func(a, b *task.Task) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return ids(sorted)
}

func matching(tasks []*task.Task, keep func(*task.Task) bool) []*task.Task {
	var out []*task.Task
	for _, t := range tasks {
		if keep(t) {
			out = append(out, t)
		}
	}
	return out
}

func (s *suite) testListFilters(t *testing.T) {
	b := s.setup(t)
	user, other := b.id("usr"), b.id("usr")
	base := b.now().Add(-time.Hour)
	mk := func(typ task.Type, status task.Status, age time.Duration) *task.Task {
		tk := b.newTask(user, base.Add(-age))
		tk.Type, tk.Status = typ, status
		return tk
	}
	loose := []*task.Task{
		mk(task.TypeImageGeneration, task.StatusQueued, 1*time.Second),
		mk(task.TypeVideoGeneration, task.StatusQueued, 2*time.Second),
		mk(task.TypeImageGeneration, task.StatusRunning, 3*time.Second),
		mk(task.TypeVideoGeneration, task.StatusCompleted, 4*time.Second),
		mk(task.TypeAudioTranscription, task.StatusFailed, 4*time.Second), // same instant as the one before
	}
	b.create(loose...)
	batch, batched := b.newBatch(user, 3)
	batched[2].Type = task.TypeSubtitleGeneration
	b.createBatch(batch, batched)
	otherBatch, otherBatched := b.newBatch(user, 1)
	b.createBatch(otherBatch, otherBatched)
	b.create(b.newTask(other, base)) // another user's, never listed

	all := slices.Concat(loose, batched, otherBatched)
	for name, tc := range map[string]struct {
		filter task.ListFilter
		keep   func(*task.Task) bool
	}{
		"none":             {task.ListFilter{}, func(*task.Task) bool { return true }},
		"status":           {task.ListFilter{Status: task.StatusQueued}, func(t *task.Task) bool { return t.Status == task.StatusQueued }},
		"type":             {task.ListFilter{Type: task.TypeVideoGeneration}, func(t *task.Task) bool { return t.Type == task.TypeVideoGeneration }},
		"batch":            {task.ListFilter{BatchID: batch.ID}, func(t *task.Task) bool { return t.BatchID == batch.ID }},
		"status and type":  {task.ListFilter{Status: task.StatusQueued, Type: task.TypeImageGeneration}, func(t *task.Task) bool { return t.Status == task.StatusQueued && t.Type == task.TypeImageGeneration }},
		"type and batch":   {task.ListFilter{Type: task.TypeSubtitleGeneration, BatchID: batch.ID}, func(t *task.Task) bool { return t.Type == task.TypeSubtitleGeneration && t.BatchID == batch.ID }},
		"nothing matches":  {task.ListFilter{Status: task.StatusCanceled}, func(*task.Task) bool { return false }},
		"unknown batch":    {task.ListFilter{BatchID: b.id("bat")}, func(*task.Task) bool { return false }},
		"status and batch": {task.ListFilter{Status: task.StatusRunning, BatchID: batch.ID}, func(*task.Task) bool { return false }},
	} {
		page := b.list(user, tc.filter)
		want := newestFirst(matching(all, tc.keep))
		if got := ids(page.Tasks); !slices.Equal(got, want) {
			t.Errorf("%s: listed %v, want %v", name, got, want)
		}
		if page.NextCursor != "" {
			t.Errorf("%s: NextCursor = %q on the only page", name, page.NextCursor)
		}
	}
	// Listed tasks are whole.
	page := b.list(user, task.ListFilter{BatchID: otherBatch.ID})
	if len(page.Tasks) != 1 {
		t.Fatalf("listing batch %s: %d tasks, want 1", otherBatch.ID, len(page.Tasks))
	}
	assertTask(t, page.Tasks[0], otherBatched[0])
}

func (s *suite) testCursorWalk(t *testing.T) {
	b := s.setup(t)
	user, other := b.id("usr"), b.id("usr")
	base := b.now().Add(-time.Hour)
	var tasks, others []*task.Task
	for i := range 250 {
		// Three tasks share each instant: the id breaks the tie.
		tk := b.newTask(user, base.Add(-time.Duration(i/3)*time.Millisecond))
		if i%2 == 1 {
			tk.Type = task.TypeVideoGeneration
		}
		tasks = append(tasks, tk)
		if i%25 == 0 {
			others = append(others, b.newTask(other, tk.CreatedAt))
		}
	}
	b.create(tasks...)
	b.create(others...)

	walk := func(f task.ListFilter) (pages [][]string) {
		t.Helper()
		for {
			page := b.list(user, f)
			pages = append(pages, ids(page.Tasks))
			if page.NextCursor == "" {
				return pages
			}
			if len(pages) > 300 {
				t.Fatalf("limit %d: more than 300 pages", f.Limit)
			}
			f.Cursor = page.NextCursor
		}
	}
	for _, tc := range []struct {
		filter task.ListFilter
		want   []string
	}{
		{task.ListFilter{Limit: 7}, newestFirst(tasks)},
		{task.ListFilter{Limit: 100}, newestFirst(tasks)},
		{task.ListFilter{Limit: 50}, newestFirst(tasks)}, // the last page is exactly full
		{task.ListFilter{Limit: 7, Type: task.TypeVideoGeneration},
			newestFirst(matching(tasks, func(t *task.Task) bool { return t.Type == task.TypeVideoGeneration }))},
	} {
		pages := walk(tc.filter)
		wantPages := (len(tc.want) + tc.filter.Limit - 1) / tc.filter.Limit
		if len(pages) != wantPages {
			t.Errorf("filter %+v: %d pages, want %d", tc.filter, len(pages), wantPages)
		}
		for i, page := range pages {
			if want := min(tc.filter.Limit, len(tc.want)-i*tc.filter.Limit); len(page) != want {
				t.Errorf("filter %+v: page %d has %d tasks, want %d", tc.filter, i, len(page), want)
			}
		}
		if got := slices.Concat(pages...); !slices.Equal(got, tc.want) {
			t.Errorf("filter %+v: the walk saw %d tasks %v,\nwant %d %v", tc.filter, len(got), got, len(tc.want), tc.want)
		}
	}
}

func (s *suite) testListLimits(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	base := b.now().Add(-time.Hour)
	var tasks []*task.Task
	for i := range 120 {
		tasks = append(tasks, b.newTask(user, base.Add(-time.Duration(i)*time.Millisecond)))
	}
	b.create(tasks...)
	want := newestFirst(tasks)
	for name, tc := range map[string]struct {
		limit, want int
	}{
		"default": {0, 20},
		"one":     {1, 1},
		"max":     {100, 100},
		"above":   {500, 100},
	} {
		page := b.list(user, task.ListFilter{Limit: tc.limit})
		if got := ids(page.Tasks); !slices.Equal(got, want[:tc.want]) {
			t.Errorf("%s: listed %d tasks, want the newest %d", name, len(got), tc.want)
		}
		if page.NextCursor == "" {
			t.Errorf("%s: no NextCursor with more tasks to come", name)
		}
	}
}

func (s *suite) testBadCursor(t *testing.T) {
	b := s.setup(t)
	user := b.id("usr")
	b.create(b.newTask(user, b.now()), b.newTask(user, b.now()))
	for _, cursor := range []string{
		"not a cursor!",
		"%%%",
		base64.RawURLEncoding.EncodeToString([]byte("foo")),
		base64.RawURLEncoding.EncodeToString([]byte("{}")),
	} {
		_, err := b.store.ListTasks(b.ctx, user, task.ListFilter{Cursor: cursor})
		if !errors.Is(err, task.ErrBadCursor) {
			t.Errorf("cursor %q: error = %v, want ErrBadCursor", cursor, err)
		}
	}
	// A cursor the store issued works for its user only, and only as
	// issued: cursors are signed, not merely encoded.
	page, err := b.store.ListTasks(b.ctx, user, task.ListFilter{Limit: 1})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("first page: %v, cursor %q", err, page.NextCursor)
	}
	if _, err := b.store.ListTasks(b.ctx, user, task.ListFilter{Limit: 1, Cursor: page.NextCursor}); err != nil {
		t.Fatalf("the cursor issued: %v", err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(page.NextCursor)
	if err != nil {
		t.Fatalf("cursor %q is not base64url: %v", page.NextCursor, err)
	}
	raw[len(raw)-1] ^= 1
	for name, tc := range map[string]struct{ user, cursor string }{
		"another user's":    {b.id("usr"), page.NextCursor},
		"one byte changed":  {user, base64.RawURLEncoding.EncodeToString(raw)},
		"two bytes cut off": {user, page.NextCursor[:len(page.NextCursor)-2]},
	} {
		if _, err := b.store.ListTasks(b.ctx, tc.user, task.ListFilter{Cursor: tc.cursor}); !errors.Is(err, task.ErrBadCursor) {
			t.Errorf("%s cursor: error = %v, want ErrBadCursor", name, err)
		}
	}
}

func (s *suite) testTenantIsolation(t *testing.T) {
	b := s.setup(t)
	owner, stranger := b.id("usr"), b.id("usr")
	own := b.newTask(owner, b.now())
	b.create(own)
	batch, batched := b.newBatch(owner, 2)
	b.createBatch(batch, batched)
	rec := b.idempotencyRecord(owner, b.id("key"), b.now().Add(time.Hour))
	if err := b.store.PutIdempotency(b.ctx, rec); err != nil {
		t.Fatal(err)
	}

	if _, err := b.store.GetTask(b.ctx, stranger, own.ID); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("stranger's GetTask: error = %v, want ErrNotFound", err)
	}
	if _, err := b.store.GetTask(b.ctx, stranger, batched[0].ID); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("stranger's GetTask of a batched task: error = %v, want ErrNotFound", err)
	}
	if _, err := b.store.GetBatch(b.ctx, stranger, batch.ID); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("stranger's GetBatch: error = %v, want ErrNotFound", err)
	}
	if _, err := b.store.GetIdempotency(b.ctx, stranger, rec.Key); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("stranger's GetIdempotency: error = %v, want ErrNotFound", err)
	}
	for _, f := range []task.ListFilter{{}, {BatchID: batch.ID}, {Status: task.StatusQueued}, {Type: own.Type}} {
		if page := b.list(stranger, f); len(page.Tasks) != 0 {
			t.Errorf("stranger's listing %+v: %v", f, ids(page.Tasks))
		}
	}
	st, err := b.store.Stats(b.ctx, stranger)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 0 {
		t.Errorf("stranger's stats count %d tasks", st.Total)
	}

	assertTask(t, b.getTask(owner, own.ID), own)
	assertTask(t, b.getTask("", own.ID), own) // workers read any owner's
	assertBatch(t, b.getBatch(owner, batch.ID), batch)
	assertBatch(t, b.getBatch("", batch.ID), batch)
	if page := b.list(owner, task.ListFilter{}); len(page.Tasks) != 3 {
		t.Errorf("owner's listing: %v, want 3 tasks", ids(page.Tasks))
	}
}
