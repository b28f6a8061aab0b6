package dynamostore_test

import (
	"testing"

	"github.com/videoai/mediatasks/shared/store/dynamostore"
	"github.com/videoai/mediatasks/shared/webhook"
	"github.com/videoai/mediatasks/shared/webhook/webhooktest"
)

func TestWebhookConformance(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T, hook webhook.CommitHook) webhooktest.Adapter {
		s, _ := open(t, dynamostore.Options{OnDeliveries: hook})
		return webhooktest.Adapter{Store: s, Tasks: s}
	})
}
