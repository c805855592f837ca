// Writes a ListAgentDispatchResponse with every field of livekit/protocol v1.54.1 that is newer
// than livekit-protocol 1.1.29 set, as livekit-server marshals answers.
package main

import (
	"fmt"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/encoding/protojson"
)

func main() {
	job := &livekit.Job{
		Id: "AJ_newfields0001", DispatchId: "AD_newfields0001", Type: livekit.JobType_JT_ROOM,
		AgentName: "support", Metadata: "m", CreatedAt: 1796000000123456789, ThreadId: "AT_thread0001",
		State: &livekit.JobState{
			Status: livekit.JobStatus_JS_RUNNING, StartedAt: 1796000000300000001, UpdatedAt: 1796000000400000002,
			ParticipantIdentity: "agent-AJ_newfields0001", WorkerId: "AW_worker0001",
			Reason: livekit.JobStateReason_JSR_RETRYING, AcceptedAt: 1796000000250000003,
			AssignedAt: 1796000000200000004, Attempts: 3, FirstStartedAt: 1796000000100000005,
			AgentFailedAttemptsNs: 9007199254740993, WorkersAsked: 4294967295,
		},
	}
	d := &livekit.AgentDispatch{
		Id: "AD_newfields0001", AgentName: "support", Room: "call-7", Metadata: "m", ThreadId: "AT_thread0001",
		State: &livekit.AgentDispatchState{
			Jobs: []*livekit.Job{job}, CreatedAt: 1796000000000000006, Trigger: livekit.AgentDispatchTrigger_ADT_JOIN,
		},
	}
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(
		&livekit.ListAgentDispatchResponse{AgentDispatches: []*livekit.AgentDispatch{d}})
	if err != nil {
		panic(err)
	}
	fmt.Print(string(b))
}
