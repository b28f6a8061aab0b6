// Command webhook is the webhook Lambda function: the webhook queue's
// messages, each a signed delivery attempt.
package main

import "github.com/videoai/mediatasks/shared/cloud"

func main() { cloud.Start(cloud.Webhook) }
