package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// FieldError names one bad part of a request: Field is a JSON path into
// the body ("prompt", "tasks[3].input_data.prompt"), or a query parameter
// or header name.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an error answer of the API (RFC 9457 problem+json). Every
// method returns it, wrapped, for a 4xx or 5xx: use errors.As to read it.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors"`
	// Health is set on the 503 of Health: the state that made it fail.
	Health *Health `json:"health,omitempty"`
}

func (p *Problem) Error() string {
	if p.Detail == "" {
		return fmt.Sprintf("%d %s", p.Status, p.Title)
	}
	return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
}

// Field returns the message about the named field, and whether the
// problem names it.
func (p *Problem) Field(name string) (message string, ok bool) {
	for _, e := range p.Errors {
		if e.Field == name {
			return e.Message, true
		}
	}
	return "", false
}

// problemFrom reads an error answer; one that is not problem+json (a proxy's
// page, Go's own plain-text 400) becomes a Problem with the status and the
// start of the body as its detail.
func problemFrom(status int, body []byte) *Problem {
	p := &Problem{}
	if json.Unmarshal(body, p) == nil && p.Status != 0 {
		return p
	}
	detail := strings.TrimSpace(string(body))
	if len(detail) > 512 {
		detail = detail[:512]
	}
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}
}
