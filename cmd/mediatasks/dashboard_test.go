package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/videoai/mediatasks/shared/provider/openai/openaifake"
)

// shotsDir is where the dashboard test also leaves its screenshots, for
// people to look at.
const shotsDir = "/work/dashboard-shots"

// The dashboard in a headless Chromium against the server in process, on
// the sims: sign in with the server's key, submit an image from the form and
// see it complete live in the list, open its page and see the image load,
// submit a video and cancel it from its page, a batch from the form and its
// progress, dark, a phone's width; no console error on the way.
func TestDashboardInABrowser(t *testing.T) {
	t.Parallel()
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("chromium is not installed (Debian package chromium; make test installs it): the dashboard's browser test needs it")
	}
	c := serveWithConfig(t, `providers:
  - name: sim-image
    type: sim
    task_types: [image_generation]
    options: {latency_ms: 200}
  - name: sim-video
    type: sim
    task_types: [video_generation]
    options: {latency_ms: 50, poll_steps: 60, poll_after_ms: 1000}
  - name: sim-subtitles
    type: sim
    task_types: [subtitle_generation]
    options: {latency_ms: 50}
  - name: sim-transcribe
    type: sim
    task_types: [audio_transcription]
    options: {latency_ms: 50}
webhooks:
  allow_private: true
`)
	var hooks atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooks.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	wav := filepath.Join(t.TempDir(), "talk.wav")
	if err := os.WriteFile(wav, openaifake.WAV(2), 0o644); err != nil {
		t.Fatal(err)
	}

	shots := filepath.Join(t.TempDir(), "shots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	dirs := []string{shots}
	if err := os.MkdirAll(shotsDir, 0o755); err != nil {
		t.Logf("screenshots only in %s: %v", shots, err)
	} else {
		dirs = append(dirs, shotsDir)
		old, _ := filepath.Glob(filepath.Join(shotsDir, "[0-9][0-9]-*.png")) // the last run's
		for _, f := range old {
			_ = os.Remove(f)
		}
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	defer cancelTab()
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelTime()

	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		var p string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, a.Description+string(a.Value))
				}
				p = "console." + string(ev.Type) + ": " + strings.Join(args, " ")
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			p = "exception: " + d.Text
			if d.Exception != nil {
				p += " " + d.Exception.Description
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				p = "log: " + ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		if p != "" {
			mu.Lock()
			problems = append(problems, p)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, struct{}{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, struct{}{}); err != nil {
		t.Fatal(err)
	}

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	var shot func(step string)
	wait := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			shot("failed")
			t.Fatalf("%s (%s): %v", what, expr, err)
		}
	}
	n := 0
	shot = func(step string) {
		n++
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Errorf("screenshot %s: %v", step, err)
			return
		}
		name := fmt.Sprintf("%02d-%s.png", n, step)
		for _, d := range dirs {
			if err := os.WriteFile(filepath.Join(d, name), png, 0o644); err != nil {
				t.Error(err)
			}
		}
	}

	// Sign in with the server's key.
	do("open the dashboard", chromedp.Navigate(c.base+"/"), chromedp.WaitVisible(chromedp.CSS("#key")))
	shot("sign-in")
	do("sign in from the keyboard", chromedp.SendKeys(chromedp.CSS("#key"), c.key+"\r"))
	wait("signed in", `!document.getElementById("home").hidden && document.getElementById("signin").hidden`)
	unlabelled, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("input, select, textarea")].filter(e => !e.labels || !e.labels.length).map(e => e.id || e.name)`))
	if err != nil || len(unlabelled) > 0 {
		t.Fatalf("inputs without a label: %v %v", unlabelled, err)
	}
	wait("providers shown", `document.querySelectorAll("#providers tr").length === 4`)

	// An image from the form, completed live in the list.
	do("submit an image",
		chromedp.SetValue(chromedp.CSS("#task-type"), "image"),
		chromedp.SendKeys(chromedp.CSS("#prompt"), "a lighthouse at dawn"),
		chromedp.SetValue(chromedp.CSS("#size"), "256x256"),
		chromedp.Click(chromedp.CSS("#preview-btn")))
	wait("the prompt preview", `document.getElementById("prompt-preview").textContent.includes("a lighthouse at dawn, ")`)
	do("submit it", chromedp.Click(chromedp.CSS("#submit-btn")))
	wait("submitted", `!!document.getElementById("submitted")`)
	imageID, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("submitted").dataset.id`))
	if err != nil {
		t.Fatal(err)
	}
	wait("the image task completed in the list", fmt.Sprintf(`document.querySelector('#tasks tr[data-id=%q]')?.dataset.status === "completed"`, imageID))
	wait("stats count it", `/total 1(?!\d)/.test(document.getElementById("stats").textContent)`)
	shot("image-completed-in-list")

	// Its page: the image loads, the events timeline has the whole story.
	do("open the image task", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#tasks tr[data-id=%q] a`, imageID))))
	wait("the task page", `!document.getElementById("task").hidden && document.getElementById("t-status").textContent === "completed"`)
	wait("the image loaded", `(document.querySelector("#preview img")?.naturalWidth || 0) > 0`)
	wait("the events timeline", `[...document.querySelectorAll("#t-events li")].map(l => l.dataset.event).join() === "task.queued,task.started,task.completed"`)
	shot("image-task-page")

	// Subtitles of an uploaded WAV, with a webhook: the subtitle text, the
	// input's audio player, the delivery and its replay on the task's page.
	do("back to the list", chromedp.Click(chromedp.CSS(`#task a[href="#/"]`)))
	wait("the list again", `!document.getElementById("home").hidden`)
	do("submit subtitles",
		chromedp.SetValue(chromedp.CSS("#task-type"), "subtitles"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("task-type").dispatchEvent(new Event("change"))`),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("prompt").value = ""`),
		chromedp.SetUploadFiles(chromedp.CSS("#audio-file"), []string{wav}),
		chromedp.SendKeys(chromedp.CSS("#webhook-url"), hook.URL+"/hook"),
		chromedp.Click(chromedp.CSS("#submit-btn")))
	wait("submitted", `document.getElementById("submitted")?.textContent.startsWith("subtitle_generation")`)
	do("open the subtitles task", chromedp.Click(chromedp.CSS("#submitted")))
	wait("the subtitles completed", `document.getElementById("t-status").textContent === "completed"`)
	wait("the subtitle text", `[...document.querySelectorAll("#preview pre")].some(p => p.textContent.includes("-->"))`)
	wait("the input's audio player", `(document.getElementById("input-audio")?.readyState || 0) >= 1`)
	wait("the delivery", `[...document.querySelectorAll("#t-deliveries .delivery")].some(d => d.textContent.includes("delivered"))`)
	shot("subtitles-task-page")
	sent := hooks.Load()
	do("replay the delivery", chromedp.Click(chromedp.CSS("#t-deliveries .delivery button")))
	wait("the replay's attempt", `[...document.querySelectorAll("#t-deliveries .delivery tbody tr")].length >= 2`)
	if hooks.Load() <= sent {
		t.Fatalf("the replay did not reach the webhook: %d calls, %d before", hooks.Load(), sent)
	}
	shot("subtitles-delivery-replayed")

	// A transcript of the same file, uploaded again.
	do("back to the list", chromedp.Click(chromedp.CSS(`#task a[href="#/"]`)))
	wait("the list again", `!document.getElementById("home").hidden`)
	do("submit a transcription",
		chromedp.SetValue(chromedp.CSS("#task-type"), "transcription"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("task-type").dispatchEvent(new Event("change"))`),
		chromedp.SetUploadFiles(chromedp.CSS("#audio-file"), []string{wav}),
		chromedp.SendKeys(chromedp.CSS("#language"), "en"),
		chromedp.Click(chromedp.CSS("#submit-btn")))
	wait("submitted", `document.getElementById("submitted")?.textContent.startsWith("audio_transcription")`)
	do("open the transcription task", chromedp.Click(chromedp.CSS("#submitted")))
	wait("the transcript", `document.getElementById("t-status").textContent === "completed" && document.querySelector("#preview pre.text")?.textContent.length > 10`)
	shot("transcription-task-page")

	// A video from the form, cancelled from its page.
	do("back to the list", chromedp.Click(chromedp.CSS(`#task a[href="#/"]`)))
	wait("the list again", `!document.getElementById("home").hidden`)
	do("submit a video",
		chromedp.SetValue(chromedp.CSS("#task-type"), "video"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("task-type").dispatchEvent(new Event("change"))`),
		chromedp.SetValue(chromedp.CSS("#prompt"), "waves on a beach"),
		chromedp.Click(chromedp.CSS("#submit-btn")))
	wait("submitted", `document.getElementById("submitted")?.textContent.startsWith("video_generation")`)
	videoID, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("submitted").dataset.id`))
	if err != nil {
		t.Fatal(err)
	}
	do("open the video task", chromedp.Click(chromedp.CSS("#submitted")))
	wait("the video task running", `!document.getElementById("t-cancel").hidden && document.getElementById("t-id").textContent === `+fmt.Sprintf("%q", videoID))
	shot("video-task-running")
	do("cancel it", chromedp.Click(chromedp.CSS("#t-cancel")))
	wait("the video canceled", `document.getElementById("t-status").textContent === "canceled" && document.getElementById("t-cancel").hidden`)
	wait("the canceled event", `[...document.querySelectorAll("#t-events li")].some(l => l.dataset.event === "task.canceled")`)
	shot("video-task-canceled")
	if got := c.finished(videoID); got.Status != "canceled" {
		t.Fatalf("the video task is %s, not canceled", got.Status)
	}

	do("back to the list", chromedp.Click(chromedp.CSS(`#task a[href="#/"]`)))
	wait("the canceled video in the list", fmt.Sprintf(`document.querySelector('#tasks tr[data-id=%q]')?.dataset.status === "canceled"`, videoID))
	shot("list-after-cancel")

	// A batch of two images, submitted by the API: its button filters the
	// list to the batch; the priority filter to none of them.
	var batch struct {
		ID string `json:"id"`
	}
	img := map[string]any{"task_type": "image_generation", "input_data": map[string]any{"prompt": "a fox", "size": "256x256"}, "priority": "low"}
	c.mustDo("POST", "/api/v1/media/batches", map[string]any{"tasks": []any{img, img}}, http.StatusAccepted, &batch)
	wait("the batch in the list", fmt.Sprintf(`document.querySelectorAll('#tasks button[aria-label="show only batch %s"]').length === 2`, batch.ID))
	wait("the batch among the batches, ended", fmt.Sprintf(`document.querySelector('#batches tr[data-batch=%q]')?.dataset.status === "completed" && document.querySelector('#batches tr[data-batch=%q]').textContent.includes("2/2")`, batch.ID, batch.ID))
	do("filter by the batch", chromedp.Click(chromedp.CSS(`#tasks button.link`)))
	wait("only the batch", fmt.Sprintf(`document.getElementById("f-batch").value === %q && document.querySelectorAll("#tasks tr[data-id]").length === 2 && [...document.querySelectorAll("#tasks tr[data-status]")].every(r => r.dataset.status === "completed")`, batch.ID))
	shot("list-batch-filter")
	do("and high priority only", chromedp.SetValue(chromedp.CSS("#f-priority"), "high"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("f-priority").dispatchEvent(new Event("change"))`))
	wait("none", `document.querySelectorAll("#tasks tr[data-id]").length === 0`)
	do("clear the filters", chromedp.Evaluate[chromedp.Void](`for (const id of ["f-priority", "f-batch"]) { const e = document.getElementById(id); e.value = ""; e.dispatchEvent(new Event("change")); }`))
	wait("all six", `document.querySelectorAll("#tasks tr[data-id]").length === 6`)

	// Three copies of an image from the form are a batch: its progress in
	// the batches, its button the list's filter.
	do("submit three copies",
		chromedp.SetValue(chromedp.CSS("#task-type"), "image"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("task-type").dispatchEvent(new Event("change"))`),
		chromedp.Evaluate[chromedp.Void](`for (const [id, v] of [["prompt", "a paper boat"], ["size", "256x256"], ["priority", "low"], ["webhook-url", ""], ["copies", "3"]]) document.getElementById(id).value = v`),
		chromedp.Click(chromedp.CSS("#submit-btn")))
	wait("the batch submitted", `!!document.getElementById("submitted-batch")`)
	formBatch, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("submitted-batch").dataset.id`))
	if err != nil {
		t.Fatal(err)
	}
	wait("its progress to the end", fmt.Sprintf(`document.querySelector('#batches tr[data-batch=%q]')?.dataset.status === "completed" && document.querySelector('#batches tr[data-batch=%q] progress').value === 3`, formBatch, formBatch))
	var got struct {
		Status  string   `json:"status"`
		TaskIDs []string `json:"task_ids"`
		Counts  struct {
			Completed int `json:"completed"`
		} `json:"counts"`
	}
	c.mustDo("GET", "/api/v1/media/batches/"+formBatch, nil, http.StatusOK, &got)
	if got.Status != "completed" || len(got.TaskIDs) != 3 || got.Counts.Completed != 3 {
		t.Fatalf("the form's batch: %+v", got)
	}
	shot("batches")
	do("its tasks", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#batches tr[data-batch=%q] button`, formBatch))))
	wait("only its three, low", fmt.Sprintf(`document.getElementById("f-batch").value === %q && document.querySelectorAll("#tasks tr[data-id]").length === 3 && [...document.querySelectorAll("#tasks tr[data-id]")].every(r => r.children[4].textContent === "low")`, formBatch))
	do("clear the filter", chromedp.Evaluate[chromedp.Void](`const e = document.getElementById("f-batch"); e.value = ""; e.dispatchEvent(new Event("change"))`))
	wait("all nine", `document.querySelectorAll("#tasks tr[data-id]").length === 9`)

	// Sign out, and in again in the dark.
	do("sign out", chromedp.Click(chromedp.CSS("#signout")))
	wait("signed out", `!document.getElementById("signin").hidden && document.getElementById("home").hidden && !localStorage.getItem("mediatasks-key")`)
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatal(err)
	}
	do("sign in again", chromedp.SendKeys(chromedp.CSS("#key"), c.key+"\r"))
	wait("signed in, dark", `!document.getElementById("home").hidden && getComputedStyle(document.body).backgroundColor === "rgb(18, 22, 28)"`)
	wait("the list", fmt.Sprintf(`!!document.querySelector('#tasks tr[data-id=%q]')`, videoID))
	shot("list-dark")

	// On a phone's width: the page does not scroll sideways (wide tables
	// scroll in their own boxes), and a task's page opens from the list.
	do("a phone's width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	wait("no sideways scroll", `document.documentElement.scrollWidth <= window.innerWidth + 1`)
	shot("list-phone")
	do("open a task on the phone", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = "#/task/%s"`, imageID)))
	wait("its page, no sideways scroll", `!document.getElementById("task").hidden && document.getElementById("t-status").textContent === "completed" && document.documentElement.scrollWidth <= window.innerWidth + 1`)
	shot("task-phone")

	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("the browser's console has errors:\n%s", strings.Join(problems, "\n"))
	}
}
