package runway

import (
	"strings"
	"testing"
)

func TestProblem(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		status     int
		body       string
		code       string
		quota      bool
		messageHas string
	}{
		"validation": {400, `{"error":"Validation of body failed","issues":[{"message":"ratio must be one of 1280:720, 720:1280","path":["ratio"]}]}`, "validation_failed", false, "ratio must be one of"},
		"credits":    {400, `{"error":"You do not have enough credits to run this task."}`, "insufficient_credits", true, "enough credits"},
		"daily cap":  {429, `{"error":"You have exceeded your daily task limit."}`, "daily_limit", true, "daily"},
		"rate":       {429, `{"error":"You have exceeded the rate limit."}`, "", false, "rate limit"},
		"not JSON":   {502, `<html>bad gateway</html>`, "", false, ""},
	}
	for name, tc := range tests {
		p := problem(tc.status, []byte(tc.body))
		if p.Code != tc.code || p.Quota != tc.quota || (tc.messageHas != "" && !strings.Contains(p.Message, tc.messageHas)) {
			t.Errorf("%s: %+v", name, p)
		}
	}
}
