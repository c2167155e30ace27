%% @private
%% The application: removes what killed BEAMs left behind, loads its modules,
%% then starts reactor_sup.
-module(reactor_app).
-behaviour(application).

-export([start/2, stop/1]).

start(_Type, _Args) ->
    %% a BEAM killed while a context was starting left its channel directory
    _ = reactor_channel:remove_stale(),
    preload(),
    reactor_sup:start_link().

stop(_State) ->
    ok.

%% In interactive mode a module is loaded on its first call, which takes a
%% file descriptor: at the fd limit that call fails with undef, and whatever
%% made it dies. Seen under `ulimit -n 256': an acceptor died in timer:sleep/1,
%% its warning crashed logger's formatter (string was not loaded) or its
%% handler (io), a context's start died in base64 and its stop in sys. So
%% what the paths at the limit call is loaded now: this application's modules
%% and every module they call (their imports), sys (gen_server:stop/3 calls
%% it), io (the default handler's output), and what formatting a warning takes
%% (done once, its output dropped). A release (embedded mode) has loaded
%% everything at boot already.
preload() ->
    {ok, Mods} = application:get_key(reactor, modules),
    _ = code:ensure_modules_loaded(lists:usort([sys, io | Mods] ++ lists:flatmap(fun imports/1, Mods))),
    Event = #{level => warning, msg => {"~0p: ~p", [reactor, emfile]}, meta => #{time => logger:timestamp()}},
    _ = [catch logger_formatter:format(Event, Config)
         || Config <- [#{}, #{legacy_header => true, single_line => false}]],
    ok.

imports(Mod) ->
    case code:which(Mod) of
        Path when is_list(Path) ->
            case beam_lib:chunks(Path, [imports]) of
                {ok, {_, [{imports, Imports}]}} -> [M || {M, _, _} <- Imports];
                _ -> []
            end;
        _ -> []
    end.
