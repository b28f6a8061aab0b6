// Command submit is the submit Lambda function: the API's writes (submits,
// uploads, batches, cancels), from API Gateway.
package main

import "github.com/videoai/mediatasks/shared/cloud"

func main() { cloud.Start(cloud.Submit) }
