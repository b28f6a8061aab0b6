package ffmpeg

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/task"
)

// RegistryStills makes the still of a video that names no image with one
// of the registry's image providers, as an image task of one picture of
// the video's prompt would: the registry chooses the provider (health,
// weight), paces and guards its calls, and a long job is polled to its
// end within the render's time. The still is simulated when that provider
// is. Its provider's cost is not the video task's: the still is part of
// the render.
func RegistryStills(r *provider.Registry, fetch *httpapi.Fetcher) StillMaker {
	return registryStills{r: r, fetch: fetch}
}

type registryStills struct {
	r     *provider.Registry
	fetch *httpapi.Fetcher
}

// maxStillPolls bounds the polls of a still's image job.
const maxStillPolls = 600

func (s registryStills) MakeStill(ctx context.Context, req provider.Request, prompt string, width, height int) (Still, error) {
	size := "1024x1024"
	switch {
	case width > height:
		size = "1792x1024"
	case height > width:
		size = "1024x1792"
	}
	one := 1
	in := &task.ImageInput{Prompt: prompt, Size: size, N: &one}
	name, err := s.r.Choose(task.TypeImageGeneration, req.TaskID, "", nil, in)
	if err != nil {
		return Still{}, fmt.Errorf("choose an image provider for the still: %w", err)
	}
	body, err := json.Marshal(in)
	if err != nil {
		return Still{}, fmt.Errorf("encode the still's input: %w", err)
	}
	ireq := provider.Request{TaskID: req.TaskID, UserID: req.UserID, Type: task.TypeImageGeneration, Input: body, Attempt: 1}
	resp, err := s.r.Start(ctx, name, ireq)
	job := resp.Job
	for polls := 0; err == nil && !resp.Done(); polls++ {
		if polls == maxStillPolls || job == "" {
			return Still{}, provider.NewTransient("still", fmt.Sprintf("%s made no still", name), nil)
		}
		wait := min(max(resp.PollAfter, 100*time.Millisecond), 5*time.Second)
		select {
		case <-ctx.Done():
			_ = s.r.Cancel(context.WithoutCancel(ctx), name, ireq, job)
			return Still{}, fmt.Errorf("the still of %s: %w", name, context.Cause(ctx))
		case <-time.After(wait):
		}
		if resp, err = s.r.Poll(ctx, name, ireq, job); err == nil && resp.Job != "" {
			job = resp.Job
		}
	}
	if err != nil {
		return Still{}, fmt.Errorf("the still of %s: %w", name, err)
	}
	if len(resp.Result.Files) == 0 {
		return Still{}, provider.NewTransient("still", fmt.Sprintf("%s answered no image for the still", name), nil)
	}
	f := resp.Result.Files[0]
	data, ct := f.Data, f.ContentType
	if data == nil {
		if data, ct, err = s.fetch.Get(ctx, f.URL, "image/"); err != nil {
			return Still{}, fmt.Errorf("the still of %s: %w", name, err)
		}
	}
	return Still{Data: data, ContentType: ct, Simulated: s.r.Simulated(name)}, nil
}
