/** The tests' real PostgreSQL server: the starter lives with the benchmark, which starts one too. */
export { postgresBin, startPostgres, type TestPostgres } from '../bench/src/postgres.js';
