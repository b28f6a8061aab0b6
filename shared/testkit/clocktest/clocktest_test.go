package clocktest_test

import (
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/testkit/clocktest"
)

func TestFakeMovesOnlyWhenTold(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	c := clocktest.NewFake(start)
	if !c.Now().Equal(start) {
		t.Fatalf("now = %v", c.Now())
	}
	c.Add(90 * time.Second)
	if got := c.Now().Sub(start); got != 90*time.Second {
		t.Fatalf("after Add: %v", got)
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Fatalf("after Set: %v", c.Now())
	}
}
