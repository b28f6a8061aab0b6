package llm

import (
	"encoding/json"
	"net/http"
	"strings"
)

// wire is one provider's request and answer format.
type wire interface {
	// request returns the path under the base URL, the headers besides
	// Content-Type, and the JSON body.
	request(cfg Config, key, system, user string) (path string, h http.Header, body any)
	// answer reads a 2xx body: the model's text and the model that
	// answered (may be empty), or the reason there is no usable text.
	answer(body []byte) (text, model string, err *Error)
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// openAI speaks Chat Completions, as OpenAI, Ollama, vLLM and LocalAI
// serve it.
type openAI struct{}

func (openAI) request(cfg Config, key, system, user string) (string, http.Header, any) {
	h := http.Header{}
	if key != "" { // local servers take none
		h.Set("Authorization", "Bearer "+key)
	}
	type format struct {
		Type string `json:"type"`
	}
	return "/chat/completions", h, struct {
		Model          string    `json:"model"`
		Messages       []message `json:"messages"`
		Temperature    float64   `json:"temperature"`
		MaxTokens      int       `json:"max_tokens"`
		ResponseFormat format    `json:"response_format"`
	}{
		Model:          cfg.Model,
		Messages:       []message{{Role: "system", Content: system}, {Role: "user", Content: user}},
		Temperature:    cfg.Temperature,
		MaxTokens:      cfg.MaxTokens,
		ResponseFormat: format{Type: "json_object"},
	}
}

func (openAI) answer(body []byte) (string, string, *Error) {
	var resp struct {
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Content *string `json:"content"`
				Refusal *string `json:"refusal"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return "", "", &Error{Status: http.StatusOK, Type: FailBadResponse, Message: "not a chat completion: " + err.Error(), Err: err}
	}
	if len(resp.Choices) == 0 {
		return "", resp.Model, &Error{Status: http.StatusOK, Type: FailEmptyAnswer, Message: "no choices"}
	}
	c := resp.Choices[0]
	switch {
	case c.Message.Refusal != nil && *c.Message.Refusal != "":
		return "", resp.Model, &Error{Status: http.StatusOK, Type: FailRefusal, Message: shorten(*c.Message.Refusal)}
	case c.FinishReason == "content_filter":
		return "", resp.Model, &Error{Status: http.StatusOK, Type: FailContentFilter, Message: "the answer was withheld by the content filter"}
	case c.FinishReason == "length":
		return "", resp.Model, &Error{Status: http.StatusOK, Type: FailTruncated, Message: "the answer reached max_tokens"}
	}
	var text string
	if c.Message.Content != nil {
		text = *c.Message.Content
	}
	return text, resp.Model, nil
}

// anthropicVersion is the Messages API version the request is written to.
const anthropicVersion = "2023-06-01"

// anthropic speaks the Messages API.
type anthropic struct{}

func (anthropic) request(cfg Config, key, system, user string) (string, http.Header, any) {
	h := http.Header{}
	h.Set("x-api-key", key)
	h.Set("anthropic-version", anthropicVersion)
	return "/messages", h, struct {
		Model       string    `json:"model"`
		MaxTokens   int       `json:"max_tokens"`
		System      string    `json:"system"`
		Messages    []message `json:"messages"`
		Temperature float64   `json:"temperature"`
	}{
		Model:       cfg.Model,
		MaxTokens:   cfg.MaxTokens,
		System:      system,
		Messages:    []message{{Role: "user", Content: user}},
		Temperature: cfg.Temperature,
	}
}

func (anthropic) answer(body []byte) (string, string, *Error) {
	var resp struct {
		Model   string `json:"model"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		StopReason string `json:"stop_reason"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return "", "", &Error{Status: http.StatusOK, Type: FailBadResponse, Message: "not a message: " + err.Error(), Err: err}
	}
	switch resp.StopReason {
	case "refusal":
		return "", resp.Model, &Error{Status: http.StatusOK, Type: FailRefusal, Message: "the model declined to answer"}
	case "max_tokens":
		return "", resp.Model, &Error{Status: http.StatusOK, Type: FailTruncated, Message: "the answer reached max_tokens"}
	}
	var b strings.Builder
	for _, c := range resp.Content {
		if c.Type == "text" {
			b.WriteString(c.Text)
		}
	}
	return b.String(), resp.Model, nil
}
