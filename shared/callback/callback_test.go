package callback_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/videoai/mediatasks/shared/callback"
)

// A task reference holds for its task and provider only, under the keys
// that signed it; the provider secrets differ per provider and per
// platform secret.
func TestKeys(t *testing.T) {
	t.Parallel()
	k, err := callback.KeysFrom([]byte("the platform's own secret"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := callback.KeysFrom([]byte("another platform's secret"))
	ref := k.Ref("task-1", "replicate")
	if id, err := k.TaskOf(ref, "replicate"); err != nil || id != "task-1" {
		t.Fatalf("TaskOf(Ref) = %q, %v", id, err)
	}
	for name, tc := range map[string]struct {
		keys          callback.Keys
		ref, provider string
	}{
		"another provider":  {k, ref, "fal"},
		"another task's id": {k, strings.Replace(ref, "task-1", "task-2", 1), "replicate"},
		"another platform":  {other, ref, "replicate"},
		"no signature":      {k, "task-1", "replicate"},
		"empty":             {k, "", "replicate"},
		"bad encoding":      {k, "task-1.***", "replicate"},
	} {
		if _, err := tc.keys.TaskOf(tc.ref, tc.provider); !errors.Is(err, callback.ErrBadReference) {
			t.Errorf("%s: %v, want ErrBadReference", name, err)
		}
	}
	if k.ProviderSecret("replicate") == k.ProviderSecret("fal") || k.ProviderSecret("replicate") == other.ProviderSecret("replicate") {
		t.Fatal("provider secrets repeat across providers or platforms")
	}
	u, err := url.Parse(k.URL("https://tasks.example.com/", "my provider", "task-1"))
	if err != nil || u.Path != "/api/v1/media/providers/my provider/callback" || u.Query().Get(callback.RefParam) != ref2(k) {
		t.Fatalf("URL %v (%v)", u, err)
	}
	if _, err := callback.KeysFrom([]byte("short")); err == nil {
		t.Fatal("a short platform secret was accepted")
	}
}

func ref2(k callback.Keys) string { return k.Ref("task-1", "my provider") }
