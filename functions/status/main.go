// Command status is the status Lambda function: the API's reads (tasks,
// lists, events, health, stats), from API Gateway.
package main

import "github.com/videoai/mediatasks/shared/cloud"

func main() { cloud.Start(cloud.Status) }
