import { Module } from 'potter';
import { Payments } from './payments';
import { Warehouse } from './warehouse';

/** The services the checkout saga injects. */
@Module({ providers: [Warehouse, Payments], exports: [Warehouse, Payments] })
export class ShopModule {}
