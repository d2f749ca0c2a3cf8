export { freePort } from '@clouddocs/db';
