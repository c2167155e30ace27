%% @doc Where contexts and listeners are found by name: a `{via, reactor_registry,
%% Name}' registry for any term, so that a context restarted by its supervisor
%% is found again under its id, and a listener started in a user's own tree is
%% found by its name. Reads go straight to a protected ETS table; writes go
%% through this process, which monitors every registered pid.
-module(reactor_registry).
-behaviour(gen_server).

-export([start_link/0, register_name/2, unregister_name/1, whereis_name/1, send/2,
         name_of/1, names/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(TABLE, ?MODULE).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

-spec register_name(term(), pid()) -> yes | no.
register_name(Name, Pid) when is_pid(Pid) ->
    try
        gen_server:call(?MODULE, {register, Name, Pid})
    catch
        exit:{noproc, _} -> error({not_started, reactor})
    end.

-spec unregister_name(term()) -> ok.
unregister_name(Name) ->
    try gen_server:call(?MODULE, {unregister, Name}) catch exit:{noproc, _} -> ok end.

-spec whereis_name(term()) -> pid() | undefined.
whereis_name(Name) ->
    try ets:lookup(?TABLE, {name, Name}) of
        [{_, Pid}] -> Pid;
        [] -> undefined
    catch
        error:badarg -> undefined
    end.

-spec send(term(), term()) -> pid().
send(Name, Msg) ->
    case whereis_name(Name) of
        undefined -> exit({badarg, {Name, Msg}});
        Pid -> Pid ! Msg, Pid
    end.

%% @doc The names `Pid' is registered under.
-spec name_of(pid()) -> [term()].
name_of(Pid) ->
    try ets:lookup(?TABLE, {pid, Pid}) of
        Rows -> [N || {_, N} <- Rows]
    catch
        error:badarg -> []
    end.

-spec names() -> [{term(), pid()}].
names() ->
    try ets:match_object(?TABLE, {{name, '_'}, '_'}) of
        Rows -> [{N, P} || {{name, N}, P} <- Rows]
    catch
        error:badarg -> []
    end.

init([]) ->
    ets:new(?TABLE, [named_table, protected, bag, {read_concurrency, true}]),
    {ok, #{}}.

handle_call({register, Name, Pid}, _From, Mons) ->
    %% A pid whose 'DOWN' is still on its way no longer holds its name: a
    %% context restarted by its supervisor takes its id back at once.
    case whereis_name(Name) of
        Old when is_pid(Old) -> is_process_alive(Old) orelse forget(Old);
        undefined -> ok
    end,
    case whereis_name(Name) of
        undefined ->
            true = ets:insert(?TABLE, [{{name, Name}, Pid}, {{pid, Pid}, Name}]),
            Mons1 = case Mons of
                        #{Pid := _} -> Mons;
                        _ -> Mons#{Pid => erlang:monitor(process, Pid)}
                    end,
            {reply, yes, Mons1};
        _ ->
            {reply, no, Mons}
    end;
handle_call({unregister, Name}, _From, Mons) ->
    case whereis_name(Name) of
        undefined -> ok;
        Pid ->
            ets:delete(?TABLE, {name, Name}),
            ets:delete_object(?TABLE, {{pid, Pid}, Name})
    end,
    {reply, ok, Mons}.

handle_cast(_, Mons) ->
    {noreply, Mons}.

handle_info({'DOWN', _, process, Pid, _}, Mons) ->
    forget(Pid),
    {noreply, maps:remove(Pid, Mons)};
handle_info(_, Mons) ->
    {noreply, Mons}.

forget(Pid) ->
    [ets:delete_object(?TABLE, {{name, N}, Pid}) || N <- name_of(Pid)],
    ets:delete(?TABLE, {pid, Pid}).
