"""``turngym webshop ...``: serve the WebShop site, write a synthetic catalogue."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="The WebShop site and its data.", no_args_is_help=True)


@app.command()
def serve(
    port: int = typer.Option(3000, help="port to listen on"),
    host: str = typer.Option("127.0.0.1", help="address to listen on (127.0.0.1: this machine)"),
    data_dir: Path | None = typer.Option(
        None, help="folder with the original data files (default: the synthetic catalogue)"
    ),
    num_products: int | None = typer.Option(1000, help="products to load"),
    seed: int = typer.Option(0, help="catalogue, price and goal seed"),
    show_attributes: bool = typer.Option(False, help="show the Attributes tab on item pages"),
) -> None:
    """Start the web shop for people and browsers; open http://HOST:PORT/ to get a session."""
    from .app import ShopServer
    from .data import WebShopDataError
    from .shop import Shop, load_catalogue

    try:
        catalogue = load_catalogue(
            None if data_dir is None else str(data_dir), num_products, seed, "auto"
        )
    except (WebShopDataError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    server = ShopServer(Shop(catalogue, show_attributes=show_attributes), host, port, quiet=False)
    typer.echo(
        f"WebShop: {len(catalogue.products)} products, {len(catalogue.goals)} goals at "
        f"{server.url}/ (goal N: {server.url}/fixed_N); Ctrl-C stops"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@app.command()
def generate(
    output_dir: Path = typer.Argument(..., help="folder to write the two JSON files into"),
    num_products: int = typer.Option(1000, help="products, from 100 to 100,000"),
    seed: int = typer.Option(0, help="generator seed"),
) -> None:
    """Write a synthetic catalogue as items_shuffle.json and items_ins_v2.json."""
    from .synthetic import write_catalogue

    try:
        folder = write_catalogue(output_dir, num_products, seed)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {num_products} products to {folder}")
