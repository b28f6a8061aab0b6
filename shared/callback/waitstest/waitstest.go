// Package waitstest is the conformance suite of callback.Waits: every
// adapter passes it.
package waitstest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/videoai/mediatasks/shared/callback"
)

// Run runs every case against waits made by open, each case on its own.
func Run(t *testing.T, open func(t *testing.T) callback.Waits) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, open(t))
		})
	}
}

var cases = []struct {
	name string
	run  func(t *testing.T, w callback.Waits)
}{
	{"an armed wait gives its token to the job's end, each time", armThenArrive},
	{"an end before the wait is armed makes the wait end at once", arriveThenArm},
	{"another job's end changes nothing", anotherJob},
	{"a new job replaces the wait and what arrived for the old one", newJobReplaces},
	{"forget removes the wait", forget},
	{"concurrent arm and arrive: the end is never lost", concurrentArmArrive},
}

func arm(t *testing.T, w callback.Waits, task, provider, job, token string, want bool) {
	t.Helper()
	arrived, err := w.Arm(context.Background(), task, provider, job, token)
	if err != nil || arrived != want {
		t.Fatalf("arm %s %s/%s: arrived %v (%v), want %v", task, provider, job, arrived, err, want)
	}
}

func arrive(t *testing.T, w callback.Waits, task, provider, job, want string) {
	t.Helper()
	token, err := w.Arrive(context.Background(), task, provider, job)
	if err != nil || token != want {
		t.Fatalf("arrive %s %s/%s: token %q (%v), want %q", task, provider, job, token, err, want)
	}
}

func armThenArrive(t *testing.T, w callback.Waits) {
	arm(t, w, "t1", "p", "j1", "tok1", false)
	arrive(t, w, "t1", "p", "j1", "tok1")
	arrive(t, w, "t1", "p", "j1", "tok1") // a retried callback
	arrive(t, w, "t2", "p", "j1", "")     // another task's
}

func arriveThenArm(t *testing.T, w callback.Waits) {
	arrive(t, w, "t1", "p", "j1", "")
	arm(t, w, "t1", "p", "j1", "tok1", true)
	// A wait armed again for the same job (a fallback poll found it still
	// running, say) still knows its end arrived.
	arm(t, w, "t1", "p", "j1", "tok2", true)
	arrive(t, w, "t1", "p", "j1", "tok2")
}

func anotherJob(t *testing.T, w callback.Waits) {
	arm(t, w, "t1", "p", "j1", "tok1", false)
	arrive(t, w, "t1", "p", "j0", "")     // an earlier job's late end
	arrive(t, w, "t1", "other", "j1", "") // another provider's job of that id
	arm(t, w, "t1", "p", "j1", "tok2", false)
	arrive(t, w, "t1", "p", "j1", "tok2")
}

func newJobReplaces(t *testing.T, w callback.Waits) {
	arrive(t, w, "t1", "p", "j1", "")
	arm(t, w, "t1", "q", "j2", "tok2", false) // failed over to q
	arrive(t, w, "t1", "p", "j1", "")
	arrive(t, w, "t1", "q", "j2", "tok2")
}

func forget(t *testing.T, w callback.Waits) {
	arm(t, w, "t1", "p", "j1", "tok1", false)
	if err := w.Forget(context.Background(), "t1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Forget(context.Background(), "t1"); err != nil {
		t.Fatalf("forget twice: %v", err)
	}
	arrive(t, w, "t1", "p", "j1", "") // recorded afresh, with no token
	arm(t, w, "t1", "p", "j1", "tok2", true)
}

// Either the arm sees the end, or the end sees the arm's token: never
// neither, whatever the order of the two writes.
func concurrentArmArrive(t *testing.T, w callback.Waits) {
	ctx := context.Background()
	for i := range 20 {
		task := fmt.Sprintf("t%d", i)
		var wg sync.WaitGroup
		var arrived bool
		var token string
		var armErr, arriveErr error
		wg.Go(func() { arrived, armErr = w.Arm(ctx, task, "p", "j", "tok") })
		wg.Go(func() { token, arriveErr = w.Arrive(ctx, task, "p", "j") })
		wg.Wait()
		if armErr != nil || arriveErr != nil {
			t.Fatalf("%s: arm %v, arrive %v", task, armErr, arriveErr)
		}
		if !arrived && token == "" {
			t.Fatalf("%s: the end was lost: the arm did not see it and it saw no token", task)
		}
	}
}
