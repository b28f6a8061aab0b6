// Command process is the process Lambda function: the state machines' step
// actions, the task queues' messages (each starts a workflow) and the
// scheduled sweep.
package main

import "github.com/videoai/mediatasks/shared/cloud"

func main() { cloud.Start(cloud.Process) }
