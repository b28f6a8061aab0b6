package openai_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/openai"
	"github.com/videoai/mediatasks/shared/provider/openai/openaifake"
	"github.com/videoai/mediatasks/shared/task"
)

// An image task through the registry, against the fake: OpenAI answers at
// once, so Start carries the result.
func Example() {
	fake := openaifake.New()
	defer fake.Close()
	opts, _ := json.Marshal(map[string]any{"base_url": fake.URL(), "api_key": openaifake.Key, "model": "dall-e-3", "quality": "hd"})
	cfgs := []config.Provider{{Name: "openai-images", Type: openai.Type, TaskTypes: []task.Type{task.TypeImageGeneration}, Weight: 1, Options: opts}}
	reg, err := provider.New(cfgs, map[string]provider.Factory{openai.Type: openai.New}, provider.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := provider.Request{TaskID: "tsk_1", Type: task.TypeImageGeneration, Input: json.RawMessage(`{"prompt": "a lighthouse", "size": "1792x1024", "style": "natural"}`), Attempt: 1}
	resp, err := reg.Start(context.Background(), "openai-images", req)
	if err != nil {
		fmt.Println(provider.ErrorName(err), err)
		return
	}
	res := resp.Result
	fmt.Println(res.Files[0].ContentType, res.Files[0].Ext, res.Cost.USD, res.Extra["revised_prompt"])
	sent := fake.Requests()[0].JSON
	fmt.Println(sent["size"], sent["quality"], sent["style"], sent["response_format"])
	// Output:
	// image/png .png 0.12 A detailed rendering of a lighthouse
	// 1792x1024 hd natural b64_json
}
