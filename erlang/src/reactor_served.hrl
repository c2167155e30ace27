%% A Node process and what it serves, as the process that talks to it holds
%% them: a context for its current Node, a drain (reactor_drain) for one that
%% replace/2 replaced. reactor_served makes and keeps it, reactor_from_node
%% applies what Node says to it, reactor_handoff admits connections into it;
%% the processes that hold one use reactor_served's functions only.
-record(served, {
    %% the context's id: logs and telemetry name it
    id :: term(),
    node :: reactor_node:node_proc(),
    conns :: reactor_conns:table(),
    %% handoff calls whose fds Node has not all answered
    calls = reactor_handoff_calls:new() :: reactor_handoff_calls:calls(),
    %% terms both ways: calls in flight to Node, beam.calls from it
    bridge :: reactor_bridge:bridge(),
    %% what Node answers in order: stats for info/1, connections/1
    queries = queue:new() :: queue:queue({stats | connections, gen_server:from()}),
    %% port frames to Node (1) and from it (2), batches to Node (3) and from
    %% it (4), messages for connections that had ended (5: sent_to_ended);
    %% one set per context, its drains' Nodes counted in it too
    frames :: counters:counters_ref(),
    %% the connection groups its connections are in (reactor_groups)
    groups = reactor_groups:new() :: reactor_groups:groups(),
    counters = #{handoffs => 0, refused => 0, closed => 0, events => 0,
                 node_errors => 0, beam_sends_dropped => 0, publishes_dropped => 0} :: #{atom() => non_neg_integer()}
}).
