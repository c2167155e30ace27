%% @doc Peer nodes for the suites that run a cluster (cluster, groups, chat):
%% distribution on this node, peers with this build's code path and the
%% reactor application started, and their end.
-module(reactor_test_peers).

-export([start_distribution/1, start/2, stop/2]).

%% @doc Makes this node distributed as `Name@127.0.0.1' (longnames), starting
%% epmd first, unless it already is. `started' or `already': what stop/2 undoes.
-spec start_distribution(atom()) -> started | already.
start_distribution(Name) ->
    case node() of
        nonode@nohost ->
            _ = os:cmd("epmd -daemon"),
            {ok, _} = net_kernel:start([list_to_atom(atom_to_list(Name) ++ "@127.0.0.1"), longnames]),
            started;
        _ ->
            already
    end.

%% @doc A peer `Name@127.0.0.1' with this node's cookie, the build's code path
%% (and `Extra' in front of it) and reactor started; not linked, so a case
%% may stop it. `#{peer, node}'.
-spec start(atom(), [file:filename()]) -> #{peer := pid(), node := node()}.
start(Name, Extra) ->
    Paths = Extra ++ [P || P <- code:get_path(), string:find(P, "_build") =/= nomatch],
    {ok, Peer, Node} = peer:start_link(#{name => Name, host => "127.0.0.1", longnames => true,
                                         args => ["-setcookie", atom_to_list(erlang:get_cookie()),
                                                  "-pa" | Paths]}),
    unlink(Peer),
    {ok, _} = erpc:call(Node, application, ensure_all_started, [reactor]),
    #{peer => Peer, node => Node}.

%% @doc Stops the peers (those still up) and the distribution if
%% start_distribution/1 started it.
-spec stop([#{peer := pid(), atom() => term()}], started | already) -> ok.
stop(Peers, Dist) ->
    [catch peer:stop(P) || #{peer := P} <- Peers],
    case Dist of
        started -> _ = net_kernel:stop(), ok;
        already -> ok
    end.
