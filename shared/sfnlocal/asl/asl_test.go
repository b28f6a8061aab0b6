package asl

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func mustDecode(t *testing.T, s string) any {
	t.Helper()
	v, err := Decode([]byte(s))
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testContext() *Context {
	return &Context{
		ExecutionID:        "arn:x:execution:m:e1",
		ExecutionName:      "e1",
		ExecutionStartTime: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC),
		ExecutionInput:     json.RawMessage(`{"in":1}`),
		StateMachineName:   "m",
		StateName:          "S",
		TaskToken:          "tok-1",
		StateEnteredTime:   time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		RetryCount:         2,
	}
}

func TestPaths(t *testing.T) {
	t.Parallel()
	data := `{"a":{"b":[10,{"c":"x"}]},"k y":true,"n":null}`
	tests := map[string]struct {
		path    string
		want    string // JSON; empty: no match
		badPath bool
	}{
		"root":              {path: "$", want: data},
		"field":             {path: "$.a.b[0]", want: `10`},
		"nested index":      {path: "$.a.b[1].c", want: `"x"`},
		"bracket name":      {path: "$['k y']", want: `true`},
		"double quoted":     {path: `$["a"]["b"][0]`, want: `10`},
		"null value":        {path: "$.n", want: `null`},
		"missing":           {path: "$.zz"},
		"index past end":    {path: "$.a.b[5]"},
		"index on object":   {path: "$.a[0]"},
		"context name":      {path: "$$.Execution.Name", want: `"e1"`},
		"context input":     {path: "$$.Execution.Input.in", want: `1`},
		"context start":     {path: "$$.Execution.StartTime", want: `"2026-01-02T03:04:05.006Z"`},
		"context retries":   {path: "$$.State.RetryCount", want: `2`},
		"context state":     {path: "$$.State.Name", want: `"S"`},
		"context machine":   {path: "$$.StateMachine.Name", want: `"m"`},
		"context token":     {path: "$$.Task.Token", want: `"tok-1"`},
		"wildcard refused":  {path: "$.a.*", badPath: true},
		"descent refused":   {path: "$..a", badPath: true},
		"filter refused":    {path: "$.a[?(@.c)]", badPath: true},
		"slice refused":     {path: "$.a[0:1]", badPath: true},
		"no dollar refused": {path: "a.b", badPath: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePath(tc.path)
			if tc.badPath {
				if err == nil {
					t.Fatalf("ParsePath(%q) accepted", tc.path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, err := p.Get(mustDecode(t, data), testContext())
			if tc.want == "" {
				var e *Error
				if !errors.As(err, &e) || e.Name != ErrRuntime {
					t.Fatalf("Get = %v, %v; want States.Runtime", v, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := jsonOf(t, v); got != jsonOf(t, mustDecode(t, tc.want)) {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestResultPath(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		input, path, result string
		want                string // empty: a States.Runtime error
	}{
		"root replaces":       {`{"a":1}`, "$", `{"r":2}`, `{"r":2}`},
		"adds field":          {`{"a":1}`, "$.r", `2`, `{"a":1,"r":2}`},
		"replaces field":      {`{"a":1}`, "$.a", `"x"`, `{"a":"x"}`},
		"creates objects":     {`{"a":1}`, "$.x.y.z", `true`, `{"a":1,"x":{"y":{"z":true}}}`},
		"into nested":         {`{"a":{"b":1}}`, "$.a.c", `2`, `{"a":{"b":1,"c":2}}`},
		"array element":       {`{"a":[1,2]}`, "$.a[1]", `9`, `{"a":[1,9]}`},
		"into a string fails": {`{"a":"s"}`, "$.a.b", `1`, ``},
		"into an array fails": {`[1]`, "$.a", `1`, ``},
		"into null fails":     {`{"a":null}`, "$.a.b", `1`, ``},
		"past array end":      {`{"a":[]}`, "$.a[0]", `1`, ``},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			input := mustDecode(t, tc.input)
			before := jsonOf(t, input)
			got, err := MustParsePath(tc.path).Set(input, mustDecode(t, tc.result))
			if tc.want == "" {
				var e *Error
				if !errors.As(err, &e) || e.Name != ErrRuntime {
					t.Fatalf("Set = %v, %v; want States.Runtime", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := jsonOf(t, got); g != jsonOf(t, mustDecode(t, tc.want)) {
				t.Fatalf("got %s, want %s", g, tc.want)
			}
			if after := jsonOf(t, input); after != before {
				t.Fatalf("the input changed: %s -> %s", before, after)
			}
		})
	}
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	data := `{"name":"ann","n":3,"list":[1,"two",{"x":1}],"obj":{"k":"v"},"str":"{\"p\":[1,2]}"}`
	tests := map[string]struct {
		template string
		want     string // JSON; empty: an error named wantErr
		wantErr  string
	}{
		"literal":         {template: `{"a":1,"b":{"c":[true,null]}}`, want: `{"a":1,"b":{"c":[true,null]}}`},
		"path":            {template: `{"who.$":"$.name","all.$":"$"}`, want: `{"who":"ann","all":` + data + `}`},
		"nested object":   {template: `{"o":{"n.$":"$.n"}}`, want: `{"o":{"n":3}}`},
		"inside array":    {template: `{"a":[{"n.$":"$.n"},"lit"]}`, want: `{"a":[{"n":3},"lit"]}`},
		"context":         {template: `{"id.$":"$$.Execution.Name"}`, want: `{"id":"e1"}`},
		"missing path":    {template: `{"x.$":"$.nope"}`, wantErr: ErrRuntime},
		"format":          {template: `{"s.$":"States.Format('hi {}, n={} {}', $.name, $.n, $.obj)"}`, want: `{"s":"hi ann, n=3 {\"k\":\"v\"}"}`},
		"format escapes":  {template: `{"s.$":"States.Format('a\\{\\} {} it\\'s', $.n)"}`, want: `{"s":"a{} 3 it's"}`},
		"format count":    {template: `{"s.$":"States.Format('{} {}', $.n)"}`, wantErr: ErrIntrinsicFailure},
		"string to json":  {template: `{"v.$":"States.StringToJson($.str)"}`, want: `{"v":{"p":[1,2]}}`},
		"json to string":  {template: `{"v.$":"States.JsonToString($.obj)"}`, want: `{"v":"{\"k\":\"v\"}"}`},
		"array":           {template: `{"v.$":"States.Array($.n, 'a', true, null, 1.5)"}`, want: `{"v":[3,"a",true,null,1.5]}`},
		"array length":    {template: `{"v.$":"States.ArrayLength($.list)"}`, want: `{"v":3}`},
		"array contains":  {template: `{"v.$":"States.ArrayContains($.list, 'two')"}`, want: `{"v":true}`},
		"contains object": {template: `{"v.$":"States.ArrayContains($.list, $.obj)"}`, want: `{"v":false}`},
		"math add":        {template: `{"v.$":"States.MathAdd($.n, -5)"}`, want: `{"v":-2}`},
		"nested calls":    {template: `{"v.$":"States.ArrayLength(States.Array($.n, $.n))"}`, want: `{"v":2}`},
		"length of non-array": {
			template: `{"v.$":"States.ArrayLength($.n)"}`, wantErr: ErrIntrinsicFailure,
		},
		"add a string": {template: `{"v.$":"States.MathAdd($.name, 1)"}`, wantErr: ErrIntrinsicFailure},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tmpl, err := ParseTemplate(mustDecode(t, tc.template))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.Eval(mustDecode(t, data), testContext())
			if tc.wantErr != "" {
				var e *Error
				if !errors.As(err, &e) || e.Name != tc.wantErr {
					t.Fatalf("Eval = %v, %v; want %s", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := jsonOf(t, got); g != jsonOf(t, mustDecode(t, tc.want)) {
				t.Fatalf("got %s, want %s", g, tc.want)
			}
		})
	}
}

func TestUUID(t *testing.T) {
	t.Parallel()
	tmpl, err := ParseTemplate(mustDecode(t, `{"a.$":"States.UUID()","b.$":"States.UUID()"}`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := tmpl.Eval(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	a, b := m["a"].(string), m["b"].(string)
	if len(a) != 36 || a == b {
		t.Fatalf("uuids %q %q", a, b)
	}
}

func TestTemplateRefusals(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"unknown function": `{"v.$":"States.Hash($.a, 'SHA-1')"}`,
		"bad path":         `{"v.$":"$.a[*]"}`,
		"not a string":     `{"v.$":3}`,
		"wrong arity":      `{"v.$":"States.ArrayLength($.a, $.b)"}`,
		"unterminated":     `{"v.$":"States.Format('x"}`,
	}
	for name, tmpl := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := ParseTemplate(mustDecode(t, tmpl)); err == nil {
				t.Fatalf("accepted %s", tmpl)
			}
		})
	}
}

func TestChoiceRules(t *testing.T) {
	t.Parallel()
	data := `{"s":"hello.mp4","n":5,"b":true,"z":null,"other":5,"os":"hello.mp4","ob":true,"arr":[1]}`
	tests := map[string]struct {
		rule    string
		want    bool
		wantErr bool
	}{
		"string equals":         {rule: `{"Variable":"$.s","StringEquals":"hello.mp4"}`, want: true},
		"string differs":        {rule: `{"Variable":"$.s","StringEquals":"x"}`},
		"string on number":      {rule: `{"Variable":"$.n","StringEquals":"5"}`},
		"string equals path":    {rule: `{"Variable":"$.s","StringEqualsPath":"$.os"}`, want: true},
		"matches star":          {rule: `{"Variable":"$.s","StringMatches":"*.mp4"}`, want: true},
		"matches middle":        {rule: `{"Variable":"$.s","StringMatches":"he*o.*"}`, want: true},
		"matches no":            {rule: `{"Variable":"$.s","StringMatches":"*.wav"}`},
		"matches escaped star":  {rule: `{"Variable":"$.s","StringMatches":"hello\\*"}`},
		"numeric equals":        {rule: `{"Variable":"$.n","NumericEquals":5}`, want: true},
		"numeric equals float":  {rule: `{"Variable":"$.n","NumericEquals":5.0}`, want: true},
		"less than":             {rule: `{"Variable":"$.n","NumericLessThan":6}`, want: true},
		"less than equals":      {rule: `{"Variable":"$.n","NumericLessThanEquals":5}`, want: true},
		"greater than":          {rule: `{"Variable":"$.n","NumericGreaterThan":5}`},
		"greater than equals":   {rule: `{"Variable":"$.n","NumericGreaterThanEquals":5}`, want: true},
		"numeric path":          {rule: `{"Variable":"$.n","NumericEqualsPath":"$.other"}`, want: true},
		"numeric on string":     {rule: `{"Variable":"$.s","NumericEquals":5}`},
		"boolean":               {rule: `{"Variable":"$.b","BooleanEquals":true}`, want: true},
		"boolean path":          {rule: `{"Variable":"$.b","BooleanEqualsPath":"$.ob"}`, want: true},
		"is present":            {rule: `{"Variable":"$.s","IsPresent":true}`, want: true},
		"is not present":        {rule: `{"Variable":"$.nope","IsPresent":false}`, want: true},
		"is present missing":    {rule: `{"Variable":"$.nope","IsPresent":true}`},
		"is null":               {rule: `{"Variable":"$.z","IsNull":true}`, want: true},
		"is string":             {rule: `{"Variable":"$.s","IsString":true}`, want: true},
		"is numeric":            {rule: `{"Variable":"$.s","IsNumeric":false}`, want: true},
		"is boolean":            {rule: `{"Variable":"$.b","IsBoolean":true}`, want: true},
		"and":                   {rule: `{"And":[{"Variable":"$.n","NumericGreaterThan":1},{"Variable":"$.b","BooleanEquals":true}]}`, want: true},
		"or":                    {rule: `{"Or":[{"Variable":"$.n","NumericGreaterThan":10},{"Variable":"$.b","BooleanEquals":true}]}`, want: true},
		"not":                   {rule: `{"Not":{"Variable":"$.n","NumericGreaterThan":10}}`, want: true},
		"missing variable":      {rule: `{"Variable":"$.nope","StringEquals":"x"}`, wantErr: true},
		"missing operand path":  {rule: `{"Variable":"$.s","StringEqualsPath":"$.nope"}`, wantErr: true},
		"and with missing item": {rule: `{"And":[{"Variable":"$.nope","NumericEquals":1}]}`, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := parseRule(mustDecode(t, tc.rule).(map[string]any), false)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Match(mustDecode(t, data), testContext())
			if tc.wantErr {
				var e *Error
				if !errors.As(err, &e) || e.Name != ErrRuntime {
					t.Fatalf("Match = %v, %v; want States.Runtime", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

// wrap puts one state (named S) into a machine, with an end state E.
func wrap(state string) string {
	return `{"StartAt":"S","States":{"S":` + state + `,"E":{"Type":"Succeed"}}}`
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		def  string
		want string // a part of the error
	}{
		"heartbeat not below timeout": {wrap(`{"Type":"Task","Resource":"r","HeartbeatSeconds":5,"TimeoutSeconds":5,"End":true}`), `state "S": field "HeartbeatSeconds": must be smaller than TimeoutSeconds`},
		"parallel":                    {wrap(`{"Type":"Parallel","Branches":[],"End":true}`), `state "S": field "Type": "Parallel" is not supported`},
		"jsonata":                     {`{"QueryLanguage":"JSONata","StartAt":"S","States":{"S":{"Type":"Succeed"}}}`, `QueryLanguage JSONata is not supported`},
		"state jsonata":               {wrap(`{"Type":"Pass","QueryLanguage":"JSONata","End":true}`), `state "S": field "QueryLanguage" is not supported`},
		"machine timeout":             {`{"TimeoutSeconds":5,"StartAt":"S","States":{"S":{"Type":"Succeed"}}}`, `field "TimeoutSeconds" is not supported`},
		"two timeouts":                {wrap(`{"Type":"Task","Resource":"r","TimeoutSecondsPath":"$.t","TimeoutSeconds":5,"End":true}`), `state "S": needs at most one of TimeoutSeconds and TimeoutSecondsPath`},
		"result on task":              {wrap(`{"Type":"Task","Resource":"r","Result":1,"End":true}`), `state "S": field "Result" is not supported`},
		"choice next":                 {wrap(`{"Type":"Choice","Choices":[{"Variable":"$.a","StringEquals":"x","Next":"E"}],"Next":"E"}`), `state "S": field "Next" is not supported`},
		"timestamp compare":           {wrap(`{"Type":"Choice","Choices":[{"Variable":"$.a","TimestampEquals":"x","Next":"E"}]}`), `state "S": field "Choices": [0]: field "TimestampEquals" is not supported`},
		"two comparisons":             {wrap(`{"Type":"Choice","Choices":[{"Variable":"$.a","StringEquals":"x","IsNull":true,"Next":"E"}]}`), `state "S": field "Choices"`},
		"jitter":                      {wrap(`{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["X"],"JitterStrategy":"HALF"}]}`), `state "S": field "Retry": [0]: JitterStrategy HALF`},
		"retry field":                 {wrap(`{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["X"],"Foo":1}]}`), `state "S": field "Retry": [0]: field "Foo"`},
		"all not alone":               {wrap(`{"Type":"Task","Resource":"r","End":true,"Catch":[{"ErrorEquals":["States.ALL","X"],"Next":"E"}]}`), `state "S": field "Catch": [0]: States.ALL must be alone`},
		"all not last":                {wrap(`{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["X"]}]}`), `state "S": field "Retry": [0]: States.ALL must be in the last`},
		"unknown next":                {wrap(`{"Type":"Pass","Next":"Nowhere"}`), `state "S": field "Next": no state "Nowhere"`},
		"unknown catch next":          {wrap(`{"Type":"Task","Resource":"r","End":true,"Catch":[{"ErrorEquals":["X"],"Next":"Nowhere"}]}`), `state "S": field "Catch[0].Next": no state "Nowhere"`},
		"unknown start":               {`{"StartAt":"Nope","States":{"S":{"Type":"Succeed"}}}`, `StartAt "Nope" is not a state`},
		"no next nor end":             {wrap(`{"Type":"Pass"}`), `state "S": needs exactly one of Next and End`},
		"both next and end":           {wrap(`{"Type":"Pass","Next":"E","End":true}`), `state "S": needs exactly one of Next and End`},
		"distributed map":             {wrap(`{"Type":"Map","End":true,"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED"},"StartAt":"I","States":{"I":{"Type":"Succeed"}}}}`), `state "S": field "ItemProcessor": ProcessorConfig Mode DISTRIBUTED`},
		"legacy iterator":             {wrap(`{"Type":"Map","End":true,"Iterator":{"StartAt":"I","States":{"I":{"Type":"Succeed"}}}}`), `state "S": field "Iterator" is not supported`},
		"item reader":                 {wrap(`{"Type":"Map","End":true,"ItemReader":{},"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Succeed"}}}}`), `state "S": field "ItemReader" is not supported`},
		"inner state":                 {wrap(`{"Type":"Map","End":true,"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Task","Resource":"r","End":true,"Credentials":{}}}}}`), `state "I": field "Credentials" is not supported`},
		"wait two fields":             {wrap(`{"Type":"Wait","Seconds":1,"SecondsPath":"$.s","End":true}`), `state "S": needs exactly one of Seconds`},
		"bad parameters path":         {wrap(`{"Type":"Pass","Parameters":{"a.$":"$.x[*]"},"End":true}`), `state "S": field "Parameters": key "a.$"`},
		"bad intrinsic":               {wrap(`{"Type":"Pass","Parameters":{"a.$":"States.Base64Encode($.x)"},"End":true}`), `state "S": field "Parameters": key "a.$"`},
		"output path wild":            {wrap(`{"Type":"Pass","OutputPath":"$.a[*]","End":true}`), `state "S": field "OutputPath"`},
		"negative timeout":            {wrap(`{"Type":"Task","Resource":"r","TimeoutSeconds":0,"End":true}`), `state "S": field "TimeoutSeconds"`},
		"fail extra":                  {wrap(`{"Type":"Fail","Error":"X","Next":"E"}`), `state "S": field "Next" is not supported`},
		"missing subst":               {wrap(`{"Type":"Task","Resource":"${Nope}","End":true}`), `no substitution for Nope`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.def), map[string]string{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want one containing %s", err, tc.want)
			}
		})
	}
}

func TestSubstitutions(t *testing.T) {
	t.Parallel()
	def := wrap(`{"Type":"Task","Resource":"${Fn}","Parameters":{"arn":"x:${Fn}:${Other}"},"End":true}`)
	m, err := Parse([]byte(def), map[string]string{"Fn": "fn-1", "Other": "o"})
	if err != nil {
		t.Fatal(err)
	}
	s := m.States["S"]
	if s.Resource != "fn-1" {
		t.Fatalf("resource %q", s.Resource)
	}
	v, err := s.EffectiveInput(map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := jsonOf(t, v); got != `{"arn":"x:fn-1:o"}` {
		t.Fatalf("parameters %s", got)
	}
}

func TestRetryAndCatch(t *testing.T) {
	t.Parallel()
	def := wrap(`{"Type":"Task","Resource":"r","End":true,
		"Retry":[{"ErrorEquals":["A"],"MaxAttempts":2},{"ErrorEquals":["States.TaskFailed"],"IntervalSeconds":3,"BackoffRate":1.5,"MaxDelaySeconds":5,"JitterStrategy":"FULL"}],
		"Catch":[{"ErrorEquals":["States.Timeout"],"Next":"E","ResultPath":"$.err"},{"ErrorEquals":["States.ALL"],"Next":"E","ResultPath":null}]}`)
	m, err := Parse([]byte(def), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := m.States["S"]
	tests := map[string]struct {
		err    string
		counts []int
		index  int
		ok     bool
	}{
		"first retrier":              {err: "A", counts: []int{0, 0}, index: 0, ok: true},
		"first retrier exhausted":    {err: "A", counts: []int{2, 0}, index: 0, ok: false},
		"task failed matches others": {err: "B", counts: []int{0, 0}, index: 1, ok: true},
		"timeout is not task failed": {err: ErrTimeout, counts: []int{0, 0}, index: -1},
		"runtime is terminal":        {err: ErrRuntime, counts: []int{0, 0}, index: -1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i, ok := s.RetrierFor(tc.err, tc.counts)
			if i != tc.index || ok != tc.ok {
				t.Fatalf("RetrierFor(%s) = %d, %v; want %d, %v", tc.err, i, ok, tc.index, tc.ok)
			}
		})
	}
	if c := s.CatcherFor(ErrTimeout); c == nil || c.ResultPath.String() != "$.err" {
		t.Fatalf("timeout catcher %+v", c)
	}
	if c := s.CatcherFor("X"); c == nil || !c.DiscardResult {
		t.Fatalf("X catcher %+v", c)
	}
	if c := s.CatcherFor(ErrRuntime); c != nil {
		t.Fatalf("States.Runtime caught by %+v", c)
	}
	out, err := s.CatcherFor(ErrTimeout).CaughtOutput(map[string]any{"a": json.Number("1")}, &Error{Name: ErrTimeout, Cause: "late"})
	if err != nil || jsonOf(t, out) != `{"a":1,"err":{"Cause":"late","Error":"States.Timeout"}}` {
		t.Fatalf("caught output %s, %v", jsonOf(t, out), err)
	}

	r := &s.Retry[1]
	for n, want := range []time.Duration{3 * time.Second, 4500 * time.Millisecond, 5 * time.Second, 5 * time.Second} {
		if got := r.Delay(n, nil); got != want {
			t.Errorf("delay %d = %v, want %v", n, got, want)
		}
		if got := r.Delay(n, func() float64 { return 0.5 }); got != want/2 {
			t.Errorf("jittered delay %d = %v, want %v", n, got, want/2)
		}
	}
	def0 := m.States["S"].Retry[0]
	if def0.IntervalSeconds != 1 || def0.BackoffRate != 2 || def0.MaxAttempts != 2 {
		t.Fatalf("defaults %+v", def0)
	}
	if got := def0.Delay(2, nil); got != 4*time.Second {
		t.Fatalf("default delay 2 = %v", got)
	}
}

func TestStates(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		state       string
		input       string
		want        string // output JSON
		result      string // for Task: the result
		wantNext    string // for Choice
		wantErrName string
	}{
		"pass result path":  {state: `{"Type":"Pass","Result":{"r":1},"ResultPath":"$.res","Next":"E"}`, input: `{"a":1}`, want: `{"a":1,"res":{"r":1}}`},
		"pass parameters":   {state: `{"Type":"Pass","InputPath":"$.a","Parameters":{"x.$":"$.b"},"Next":"E"}`, input: `{"a":{"b":2}}`, want: `{"x":2}`},
		"pass output path":  {state: `{"Type":"Pass","OutputPath":"$.a","Next":"E"}`, input: `{"a":[1]}`, want: `[1]`},
		"input path null":   {state: `{"Type":"Pass","InputPath":null,"Next":"E"}`, input: `{"a":1}`, want: `{}`},
		"output path null":  {state: `{"Type":"Pass","OutputPath":null,"Next":"E"}`, input: `{"a":1}`, want: `{}`},
		"result path null":  {state: `{"Type":"Pass","Result":5,"ResultPath":null,"Next":"E"}`, input: `{"a":1}`, want: `{"a":1}`},
		"task selector":     {state: `{"Type":"Task","Resource":"r","ResultSelector":{"v.$":"$.val"},"ResultPath":"$.out","OutputPath":"$.out","Next":"E"}`, input: `{"a":1}`, result: `{"val":7,"junk":1}`, want: `{"v":7}`},
		"task bad selector": {state: `{"Type":"Task","Resource":"r","ResultSelector":{"v.$":"$.nope"},"Next":"E"}`, input: `{}`, result: `{}`, wantErrName: ErrRuntime},
		"choice first":      {state: `{"Type":"Choice","Choices":[{"Variable":"$.n","NumericLessThan":0,"Next":"E"},{"Variable":"$.n","NumericGreaterThan":0,"Next":"S"}],"Default":"E"}`, input: `{"n":1}`, want: `{"n":1}`, wantNext: "S"},
		"choice default":    {state: `{"Type":"Choice","InputPath":"$.x","Choices":[{"Variable":"$.n","NumericLessThan":0,"Next":"S"}],"Default":"E"}`, input: `{"x":{"n":1}}`, want: `{"n":1}`, wantNext: "E"},
		"choice no match":   {state: `{"Type":"Choice","Choices":[{"Variable":"$.n","NumericLessThan":0,"Next":"S"}]}`, input: `{"n":1}`, wantErrName: "States.NoChoiceMatched"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, err := Parse([]byte(wrap(tc.state)), nil)
			if err != nil {
				t.Fatal(err)
			}
			s := m.States["S"]
			input := mustDecode(t, tc.input)
			var out any
			var next string
			switch s.Type {
			case TypePass:
				out, err = s.PassOutput(input, testContext())
			case TypeTask:
				if _, err = s.EffectiveInput(input, testContext()); err == nil {
					out, err = s.Output(input, mustDecode(t, tc.result), testContext())
				}
			case TypeChoice:
				next, out, err = s.Choose(input, testContext())
			}
			if tc.wantErrName != "" {
				var e *Error
				if !errors.As(err, &e) || e.Name != tc.wantErrName {
					t.Fatalf("got %v, %v; want %s", out, err, tc.wantErrName)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := jsonOf(t, out); g != jsonOf(t, mustDecode(t, tc.want)) {
				t.Fatalf("output %s, want %s", g, tc.want)
			}
			if next != tc.wantNext {
				t.Fatalf("next %q, want %q", next, tc.wantNext)
			}
		})
	}
}

func TestWaitAndFailAndMap(t *testing.T) {
	t.Parallel()
	entered := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	def := `{"StartAt":"W","States":{
		"W":{"Type":"Wait","SecondsPath":"$.s","Next":"T"},
		"T":{"Type":"Wait","TimestampPath":"$.at","Next":"M"},
		"M":{"Type":"Map","ItemsPath":"$.items","MaxConcurrencyPath":"$.max","ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value","s.$":"$.s"},
			"ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"I","States":{"I":{"Type":"Succeed"}}},"Next":"F"},
		"F":{"Type":"Fail","ErrorPath":"$.e","Cause":"static"}}}`
	m, err := Parse([]byte(def), nil)
	if err != nil {
		t.Fatal(err)
	}
	input := mustDecode(t, `{"s":90,"at":"2026-02-01T00:00:00Z","items":["a","b"],"max":1,"e":"Custom.Error"}`)
	ctx := testContext()
	if due, err := m.States["W"].WaitUntil(input, ctx, entered); err != nil || !due.Equal(entered.Add(90*time.Second)) {
		t.Fatalf("wait seconds path: %v, %v", due, err)
	}
	if due, err := m.States["T"].WaitUntil(input, ctx, entered); err != nil || !due.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("wait timestamp path: %v, %v", due, err)
	}
	ms := m.States["M"]
	eff, items, max, err := ms.MapItems(input, ctx)
	if err != nil || len(items) != 2 || max != 1 {
		t.Fatalf("map items %v %d %v", items, max, err)
	}
	item, err := ms.ItemInput(eff, 1, items[1], ctx)
	if err != nil || jsonOf(t, item) != `{"i":1,"s":90,"v":"b"}` {
		t.Fatalf("item input %s, %v", jsonOf(t, item), err)
	}
	if _, ok := MustParsePath("$$.Map.Item.Index").Lookup(nil, ctx); ok {
		t.Fatal("$$.Map is set outside the item selector")
	}
	if proc, err := m.Scope([]string{"M"}); err != nil || proc.StartAt != "I" {
		t.Fatalf("scope: %v", err)
	}
	e, err := m.States["F"].FailError(input, ctx)
	if err != nil || e.Name != "Custom.Error" || e.Cause != "static" {
		t.Fatalf("fail error %+v, %v", e, err)
	}
}
