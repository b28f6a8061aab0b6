package sim_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/sim"
	"github.com/videoai/mediatasks/shared/task"
)

// A task's provider calls as the workflow makes them: choose, start, poll
// until done, and fail over (exclude what was tried) on a failure.
func Example() {
	cfgs := []config.Provider{{
		Name: "sim-video", Type: sim.Type, TaskTypes: []task.Type{task.TypeVideoGeneration}, Weight: 1,
		Options: json.RawMessage(`{"poll_steps": 2, "poll_after_ms": 0}`),
	}}
	reg, err := provider.New(cfgs, map[string]provider.Factory{sim.Type: sim.New}, provider.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	req := provider.Request{TaskID: "tsk_1", Type: task.TypeVideoGeneration, Input: json.RawMessage(`{"prompt": "rain on a window"}`), Attempt: 1}
	name, err := reg.Choose(req.Type, req.TaskID, "", nil, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := reg.Start(ctx, name, req)
	for err == nil && !resp.Done() {
		fmt.Printf("%s: %.0f%%\n", name, resp.Progress*100)
		resp, err = reg.Poll(ctx, name, req, resp.Job)
	}
	if err != nil {
		fmt.Println(provider.ErrorName(err), err)
		return
	}
	f := resp.Result.Files[0]
	fmt.Println(f.ContentType, f.Ext, resp.Result.Extra["frames"], resp.Result.Extra["simulated"])
	// Output:
	// sim-video: 0%
	// sim-video: 50%
	// image/gif .gif 10 true
}
