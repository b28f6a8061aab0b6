package piapi

import (
	"net/http"
	"testing"

	"github.com/videoai/mediatasks/shared/provider"
)

func TestFailureClasses(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		e      taskError
		kind   provider.Kind
		safety bool
		reqFlt bool
	}{
		"moderation":   {taskError{Code: 10000, Message: "prompt contains sensitive words"}, provider.Permanent, true, true},
		"nsfw raw":     {taskError{Code: 10000, Message: "task failed", RawMessage: "NSFW content detected"}, provider.Permanent, true, true},
		"credits":      {taskError{Code: 10000, Message: "insufficient credits"}, provider.Permanent, false, false},
		"bad input":    {taskError{Code: 10000, Message: "invalid image_url: not a JPG or PNG"}, provider.Permanent, false, true},
		"internal":     {taskError{Code: 10000, Message: "failed to generate video, please retry"}, provider.Transient, false, false},
		"no message":   {taskError{}, provider.Transient, false, false},
		"face missing": {taskError{Message: "no face detected in the image"}, provider.Permanent, false, true},
	}
	for name, c := range cases {
		err := failure(&c.e)
		pe, _ := err.(*provider.Error)
		if provider.KindOf(err) != c.kind || provider.IsSafetyRefusal(err) != c.safety || pe == nil || pe.RequestFault != c.reqFlt || pe.Message == "" {
			t.Errorf("%s: %v (safety %v, request fault %v); want %s, safety %v, request fault %v", name, err,
				provider.IsSafetyRefusal(err), pe != nil && pe.RequestFault, c.kind, c.safety, c.reqFlt)
		}
	}
}

func TestProblem(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		status int
		body   string
		want   string
		safety bool
		quota  bool
	}{
		"bad request":  {http.StatusBadRequest, `{"code":400,"message":"invalid request: input.prompt is required"}`, "invalid request: input.prompt is required", false, false},
		"credits":      {http.StatusBadRequest, `{"code":400,"message":"insufficient quota, please top up"}`, "insufficient quota, please top up", false, true},
		"moderation":   {http.StatusBadRequest, `{"code":400,"message":"prompt flagged by moderation"}`, "prompt flagged by moderation", true, false},
		"nested error": {http.StatusBadRequest, `{"code":400,"message":"failed","data":{"error":{"message":"bad size"}}}`, "failed: bad size", false, false},
		"not json":     {http.StatusBadGateway, `<html>`, "", false, false},
	}
	for name, c := range cases {
		p := problem(c.status, []byte(c.body))
		if p.Message != c.want || p.Safety != c.safety || p.Quota != c.quota {
			t.Errorf("%s: %+v; want message %q safety %v quota %v", name, p, c.want, c.safety, c.quota)
		}
	}
}
