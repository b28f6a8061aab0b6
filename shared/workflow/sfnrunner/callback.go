package sfnrunner

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/videoai/mediatasks/shared/callback"
)

var _ callback.Resumer = (*Runner)(nil)

// resumeOutput is what a callback's SendTaskSuccess gives the waiting
// state; the definitions discard it (the job's result is read by Poll).
const resumeOutput = `{"callback":"received"}`

// ResumeWait ends a workflow's wait on token (SendTaskSuccess): the
// provider's callback came. A token whose wait ended (answered already,
// timed out, the execution stopped) is callback.ErrNotWaiting.
func (r *Runner) ResumeWait(ctx context.Context, token string) error {
	_, err := r.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(resumeOutput)})
	var (
		gone     *types.TaskDoesNotExist
		timedOut *types.TaskTimedOut
		invalid  *types.InvalidToken
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &gone), errors.As(err, &timedOut), errors.As(err, &invalid):
		return fmt.Errorf("resume a workflow: %w (%v)", callback.ErrNotWaiting, err)
	}
	return fmt.Errorf("resume a workflow: %w", err)
}
