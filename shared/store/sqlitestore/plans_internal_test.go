package sqlitestore

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/sqlitedb"
)

// Every listing the API serves reads an index in its order: no query plan
// scans a table or sorts rows, so a page costs the same at a thousand
// tasks as at a million.
func TestListingsUseAnIndex(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "mediatasks.db"), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := New(ctx, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	type listing struct {
		selectFrom string
		filters    []string
	}
	for name, l := range map[string]listing{
		"tasks":      {`SELECT ` + taskColumns + ` FROM tasks`, []string{"status", "task_type", "batch_id"}},
		"deliveries": {`SELECT ` + deliveryColumns + ` FROM webhook_deliveries`, []string{"status", "subject_id"}},
	} {
		// Every combination of the filters, without and with a cursor.
		for mask := range 1 << len(l.filters) {
			var fs []filter
			var used []string
			for i, col := range l.filters {
				if mask&(1<<i) != 0 {
					fs = append(fs, filter{col, "x"})
					used = append(used, col)
				}
			}
			cursor := s.encodeCursor(name, "alice", time.Unix(1_800_000_000, 0).UnixNano(), "01a20000-0000-7000-8000-000000000000")
			for _, c := range []string{"", cursor} {
				query, args, _, err := s.newestFirst(l.selectFrom, name, "alice", fs, c, 20)
				if err != nil {
					t.Fatal(err)
				}
				plan := explain(t, db, query, args...)
				what := fmt.Sprintf("%s by %v (cursor %v)", name, used, c != "")
				if scansOrSorts(plan, tableOf(l.selectFrom)) {
					t.Errorf("%s: the plan scans or sorts:\n%s", what, plan)
				}
			}
		}
	}
}

// The sweep of lost runs reads the partial index of running tasks with a
// deadline, which holds none on one machine (its engine is durable).
func TestOverdueRunsUseTheirIndex(t *testing.T) {
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "mediatasks.db"), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := New(context.Background(), db, Options{}); err != nil {
		t.Fatal(err)
	}
	plan := explain(t, db, overdueRunsSQL, time.Now().UnixNano(), 100)
	if scansOrSorts(plan, "tasks") || !strings.Contains(plan, "tasks_run_deadline") {
		t.Errorf("the overdue runs' plan does not read tasks_run_deadline in order:\n%s", plan)
	}
}

// scansOrSorts tells a plan that reads the whole table or sorts.
func scansOrSorts(plan, table string) bool {
	return strings.Contains(plan, "SCAN "+table) && !strings.Contains(plan, "USING") || strings.Contains(plan, "TEMP B-TREE")
}

// The check sees a plan that scans and sorts.
func TestScansOrSortsSeesABadPlan(t *testing.T) {
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "mediatasks.db"), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := New(context.Background(), db, Options{}); err != nil {
		t.Fatal(err)
	}
	if plan := explain(t, db, `SELECT id FROM tasks WHERE provider = ? ORDER BY progress`, "p"); !scansOrSorts(plan, "tasks") {
		t.Errorf("a scan and a sort not seen in:\n%s", plan)
	}
}

func tableOf(selectFrom string) string {
	return selectFrom[strings.LastIndex(selectFrom, " ")+1:]
}

// explain is the query plan of query, one step a line.
func explain(t *testing.T, db *sqlitedb.DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.Read.Query(`EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	return b.String()
}
