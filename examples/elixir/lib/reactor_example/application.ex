defmodule ReactorExample.Application do
  @moduledoc """
  A context running `priv/upcase.ts` and a listener feeding it, both children
  of this application's own supervisor. The listener finds the context by its
  id (`:reactor_context.ref/1`), so a context its supervisor restarts is
  found again.
  """
  use Application

  @impl true
  def start(_type, _args) do
    port = String.to_integer(System.get_env("PORT", "7070"))

    children = [
      :reactor.child_spec(:upcase, %{protocol: {:priv, :reactor_example, ~c"upcase.ts"}}),
      :reactor.listener_child_spec(:upcase, %{
        ip: {127, 0, 0, 1},
        port: port,
        context: :reactor_context.ref(:upcase)
      })
    ]

    Supervisor.start_link(children, strategy: :one_for_one, name: ReactorExample.Supervisor)
  end
end
