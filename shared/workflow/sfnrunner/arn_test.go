package sfnrunner

import "testing"

func TestExecutionARN(t *testing.T) {
	t.Parallel()
	for machine, want := range map[string]string{
		"arn:aws:states:us-east-1:123456789012:stateMachine:task":           "arn:aws:states:us-east-1:123456789012:execution:task:t1",
		"arn:aws:states:eu-west-3:123456789012:stateMachine:mt-batch":       "arn:aws:states:eu-west-3:123456789012:execution:mt-batch:t1",
		"arn:aws-cn:states:cn-north-1:123456789012:stateMachine:task:live":  "arn:aws-cn:states:cn-north-1:123456789012:execution:task:t1",
		"arn:aws-us-gov:states:us-gov-west-1:123456789012:stateMachine:t:3": "arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:t:t1",
	} {
		got, err := executionARN(machine, "t1")
		if err != nil || got != want {
			t.Errorf("execution of %s: %q (%v), want %q", machine, got, err, want)
		}
	}
}
