%% @doc Groups of connections across the cluster: a protocol's
%% `this.join(Group)' in TypeScript, `reactor:publish/2' and
%% `reactor:members/1' in Erlang.
%%
%% A context (or a drain) is in the `pg' group `Group' of scope
%% `reactor_groups_scope' while at least one of its connections is: it joins
%% with its first member connection and leaves with its last, so a group of a
%% thousand connections in one context is one pg member, and a publish is one
%% message (one bridge frame) per context, whatever its members. Which
%% connections of the context are in which groups is kept here, as Node tells
%% it (`{join, ConnId, Group}', `{leave, ConnId, Group}'); Node delivers a
%% publish to its members itself.
%%
%% The scope is its own, not `reactor_pg' (reactor_cluster's): connection
%% groups come and go with connections, and a scope is one process per node
%% whose every join is broadcast to the cluster; that churn stays out of the
%% scope that reload/2 and cluster_info/0 rely on, and a connection group
%% never meets a context's `group' of the same name.
-module(reactor_groups).

-export([scope/0, new/0, join/3, leave/3, count/2, names/1, hand_over/2,
         publish/2, members/2, is_group/1, max_group_bytes/0, max_groups_per_connection/0]).

-export_type([groups/0, group/0]).

-define(SCOPE, reactor_groups_scope).
%% Their home is native/reactor_shared.h (REACTOR_MAX_GROUP_BYTES,
%% REACTOR_MAX_GROUPS_PER_CONNECTION); Node's copies are in ts/limits.ts.
-define(MAX_GROUP_BYTES, 255).
-define(MAX_GROUPS_PER_CONNECTION, 1024).

%% A group's name: 1 to 255 bytes (a TypeScript string joins as its UTF-8).
-type group() :: binary().

-record(groups, {
    %% group -> its member connections here
    members = #{} :: #{group() => #{pos_integer() => []}},
    %% connection -> the groups it is in
    groups_of = #{} :: #{pos_integer() => #{group() => []}}
}).
-opaque groups() :: #groups{}.

%% @doc The pg scope of connection groups (reactor_sup starts it).
-spec scope() -> atom().
scope() -> ?SCOPE.

%% @doc The longest group name, in bytes.
-spec max_group_bytes() -> pos_integer().
max_group_bytes() -> ?MAX_GROUP_BYTES.

%% @doc The most groups one connection is in at once.
-spec max_groups_per_connection() -> pos_integer().
max_groups_per_connection() -> ?MAX_GROUPS_PER_CONNECTION.

%% @doc Whether `G' can name a group.
-spec is_group(term()) -> boolean().
is_group(G) -> is_binary(G) andalso byte_size(G) >= 1 andalso byte_size(G) =< ?MAX_GROUP_BYTES.

-spec new() -> groups().
new() -> #groups{}.

%% @doc Connection `Id' joined `Group': the calling process joins the pg group
%% with its first member. Joining twice is joining once; a connection in
%% ?MAX_GROUPS_PER_CONNECTION groups joins no more (Node refuses first).
-spec join(pos_integer(), group(), groups()) -> groups().
join(Id, G, Gs = #groups{members = M, groups_of = Of}) ->
    Mine = maps:get(Id, Of, #{}),
    case is_map_key(G, Mine) orelse map_size(Mine) >= ?MAX_GROUPS_PER_CONNECTION of
        true ->
            Gs;
        false ->
            Members = maps:get(G, M, #{}),
            map_size(Members) =:= 0 andalso pg_join(G, self()),
            Gs#groups{members = M#{G => Members#{Id => []}}, groups_of = Of#{Id => Mine#{G => []}}}
    end.

%% @doc Connection `Id' left `Group': the calling process leaves the pg group
%% with its last member. Leaving a group it is not in does nothing.
-spec leave(pos_integer(), group(), groups()) -> groups().
leave(Id, G, Gs = #groups{members = M, groups_of = Of}) ->
    case Of of
        #{Id := #{G := []} = Mine} ->
            Members = maps:remove(Id, maps:get(G, M)),
            M1 = case map_size(Members) of
                     0 -> pg_leave(G, self()), maps:remove(G, M);
                     _ -> M#{G := Members}
                 end,
            Of1 = case map_size(Mine) of
                      1 -> maps:remove(Id, Of);
                      _ -> Of#{Id := maps:remove(G, Mine)}
                  end,
            Gs#groups{members = M1, groups_of = Of1};
        _ ->
            Gs
    end.

%% @doc How many connections here are in `Group'.
-spec count(group(), groups()) -> non_neg_integer().
count(G, #groups{members = M}) -> map_size(maps:get(G, M, #{})).

%% @doc The groups with a member here.
-spec names(groups()) -> [group()].
names(#groups{members = M}) -> maps:keys(M).

%% @doc The calling process hands its groups to `To' (a drain takes over a
%% replaced Node's connections): `To' joins each pg group before the caller
%% leaves it, so that no publish misses them in between.
-spec hand_over(groups(), pid()) -> ok.
hand_over(Gs, To) ->
    [begin pg_join(G, To), pg_leave(G, self()) end || G <- names(Gs)],
    ok.

%% @doc Deliver `Term' to every connection in `Group' on every connected node:
%% one message to each context that has members, which sends its Node one
%% bridge frame. `Encoded' is the term's encoding (reactor_term:encode/1),
%% made once for every context. Returns at once.
-spec publish(group(), binary()) -> ok.
publish(G, Encoded) ->
    [P ! {'$reactor_publish', G, Encoded} || P <- pg_members(G)],
    ok.

%% @doc How many connections are in `Group', per node: each context in the pg
%% group is asked for its count, all at once; one that does not answer
%% within `Timeout' ms (or is gone) counts 0. Nodes with none are left out.
-spec members(group(), timeout()) -> #{node() => pos_integer()}.
members(G, Timeout) ->
    Reqs = [{node(P), gen_server:send_request(P, {group_count, G})} || P <- lists:usort(pg_members(G))],
    Deadline = case Timeout of
                   infinity -> infinity;
                   _ -> erlang:monotonic_time(millisecond) + Timeout
               end,
    lists:foldl(fun({Node, Req}, Acc) ->
                        case gen_server:wait_response(Req, left(Deadline)) of
                            {reply, N} when is_integer(N), N > 0 ->
                                maps:update_with(Node, fun(C) -> C + N end, N, Acc);
                            _ ->
                                Acc
                        end
                end, #{}, Reqs).

left(infinity) -> infinity;
left(Deadline) -> max(0, Deadline - erlang:monotonic_time(millisecond)).

%% Without the application's scope (a context started on its own), groups
%% stay in the context: nothing joins pg, and a publish finds no one.
pg_join(G, Pid) ->
    whereis(?SCOPE) =:= undefined orelse pg:join(?SCOPE, G, Pid).

pg_leave(G, Pid) ->
    whereis(?SCOPE) =:= undefined orelse pg:leave(?SCOPE, G, Pid).

pg_members(G) ->
    case whereis(?SCOPE) of
        undefined -> [];
        _ -> pg:get_members(?SCOPE, G)
    end.
