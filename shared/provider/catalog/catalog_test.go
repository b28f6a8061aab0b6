package catalog_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/catalog"
	"github.com/videoai/mediatasks/shared/task"
)

// Every provider example in the README builds: its type is known and its
// options are valid, with the keys its types read from the environment
// set. (Not parallel: it sets the environment.)
func TestReadmeProviderExamplesBuild(t *testing.T) {
	for _, env := range []string{"OPENAI_API_KEY", "ASSEMBLYAI_API_KEY", "RUNWAYML_API_SECRET", "FAL_KEY", "REPLICATE_API_TOKEN", "PIAPI_API_KEY"} {
		t.Setenv(env, "key-for-the-readme-test")
	}
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(- name: .*?)```").FindAllStringSubmatch(string(readme), -1)
	types := map[string]bool{}
	for _, b := range blocks {
		cfg, err := config.Parse([]byte("providers:\n" + indent(b[1])))
		if err != nil {
			t.Errorf("README example:\n%s\n%v", b[1], err)
			continue
		}
		if missing := missingPrograms(cfg.Providers); missing != "" {
			t.Logf("README example of %s not built: %s is not installed (make test installs it)", cfg.Providers[0].Type, missing)
		} else if _, err := catalog.Build(cfg.Providers, nil, nil, nil); err != nil {
			t.Errorf("README example:\n%s\n%v", b[1], err)
		}
		for _, p := range cfg.Providers {
			types[p.Type] = true
		}
	}
	for typ := range catalog.Factories {
		if !types[typ] && typ != "sim" {
			t.Errorf("the README has no example of provider type %s", typ)
		}
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// With an image provider configured, ffmpeg starts a video that names no
// image from that provider's picture of the prompt, simulated when the
// provider is.
func TestVideoWithoutAnImageStartsFromAnImageProvidersStill(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (apt-get install ffmpeg)")
	}
	t.Parallel()
	cfgs := []config.Provider{
		{Name: "img", Type: "sim", TaskTypes: []task.Type{task.TypeImageGeneration}, Options: json.RawMessage(`{"latency_ms":0,"poll_steps":2,"poll_after_ms":10}`)},
		{Name: "vid", Type: "ffmpeg", TaskTypes: []task.Type{task.TypeVideoGeneration}, Options: json.RawMessage(`{"work_dir":"` + t.TempDir() + `","caption":false,"poll_after_ms":20}`)},
	}
	r, err := catalog.Build(cfgs, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := provider.Request{TaskID: "t1", UserID: "u", Type: task.TypeVideoGeneration, Input: json.RawMessage(`{"prompt":"a fox","duration_seconds":1,"aspect_ratio":"1:1"}`), Attempt: 1}
	resp, err := r.Start(t.Context(), "vid", req)
	for i := 0; err == nil && !resp.Done() && i < 400; i++ {
		time.Sleep(25 * time.Millisecond)
		job := resp.Job
		if resp, err = r.Poll(t.Context(), "vid", req, job); err == nil && resp.Job == "" {
			resp.Job = job
		}
	}
	if err != nil || !resp.Done() {
		t.Fatalf("video: %+v, %v", resp, err)
	}
	if x := resp.Result.Extra; x["still"] != "maker" || x["simulated_still"] != true {
		t.Errorf("extra %v: want the still from the image provider, simulated", x)
	}
}

// missingPrograms names a program a local provider of cfgs needs that this
// machine lacks, or "".
func missingPrograms(cfgs []config.Provider) string {
	need := map[string][]string{"ffmpeg": {"ffmpeg", "ffprobe"}, "pocketsphinx": {"pocketsphinx_continuous", "ffmpeg"}}
	for _, c := range cfgs {
		for _, prog := range need[c.Type] {
			if _, err := exec.LookPath(prog); err != nil {
				return prog
			}
		}
	}
	return ""
}
