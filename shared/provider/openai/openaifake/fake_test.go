package openaifake_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/videoai/mediatasks/shared/provider/openai/openaifake"
	"github.com/videoai/mediatasks/shared/provider/providertest"
)

func post(t *testing.T, url, key, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp, out
}

func TestBadKeyAnswersOpenAIs401(t *testing.T) {
	t.Parallel()
	f := openaifake.New()
	t.Cleanup(f.Close)
	resp, body := post(t, f.URL()+"/images/generations", "sk-wrong-1234567890", `{"model":"gpt-image-1","prompt":"x"}`)
	e, _ := body["error"].(map[string]any)
	if resp.StatusCode != http.StatusUnauthorized || e["code"] != "invalid_api_key" || strings.Contains(e["message"].(string), "sk-wrong-1234567890") {
		t.Errorf("status %d body %v: want 401 invalid_api_key with the key masked", resp.StatusCode, body)
	}
	if len(f.Requests()) != 1 {
		t.Errorf("requests %v: want the call recorded", f.Requests())
	}
}

func TestURLAnswersExpire(t *testing.T) {
	t.Parallel()
	f := openaifake.New()
	t.Cleanup(f.Close)
	_, body := post(t, f.URL()+"/images/generations", openaifake.Key, `{"model":"dall-e-2","prompt":"x","response_format":"url"}`)
	data, _ := body["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("body %v: want one image", body)
	}
	url := data[0].(map[string]any)["url"].(string)
	get := func() int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(); got != http.StatusOK {
		t.Errorf("the image URL answered %d, want 200", got)
	}
	f.Fail(providertest.FaultExpiredOutput)
	if got := get(); got != http.StatusNotFound {
		t.Errorf("an expired image URL answered %d, want 404", got)
	}
}

func TestParametersCheckedByFamily(t *testing.T) {
	t.Parallel()
	f := openaifake.New()
	t.Cleanup(f.Close)
	for body, param := range map[string]string{
		`{"model":"gpt-image-1","prompt":"x","response_format":"url"}`: "response_format",
		`{"model":"dall-e-3","prompt":"x","n":2}`:                      "n",
		`{"model":"dall-e-2","prompt":"x","size":"1792x1024"}`:         "size",
	} {
		resp, out := post(t, f.URL()+"/images/generations", openaifake.Key, body)
		e, _ := out["error"].(map[string]any)
		if resp.StatusCode != http.StatusBadRequest || e["param"] != param {
			t.Errorf("%s: %d %v; want 400 on %s", body, resp.StatusCode, out, param)
		}
	}
}
